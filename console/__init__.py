"""The web console (督办平台): server-rendered pages for supervisors, leaders, unit contacts
and administrators, and the JSON API. A channel like SMS: no business rules here."""

"""Organizations (clinics), memberships, staff management rules and invitations: the domain.
The pages (staff, joining, switching organization) are ``clinic_app.staff``'s."""

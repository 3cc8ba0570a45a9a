"""The access oracle: who may use what, written out by hand.

The route x caller matrix (tests/test_access_matrix.py) compares what the app does with these two
tables. They are deliberately written here, not computed: this module imports nothing of the app
(no ``ROLE_PERMISSIONS``, no ``grants``, no ``policy_for``, no view attributes), so a change to the
permission table or to a route's policy fails the matrix until this file is changed in the same
commit, by someone who meant it.

``ROLE_TABLE`` is docs/permissions.md's table (the human statement of the roles), one row per
permission: owner, practice admin, clinician, receptionist. ``ROUTES`` is every URL rule with its
methods and what it needs:

* ``public`` - anyone, signed in or not;
* ``signed-in`` - any signed-in person or API client, no organization needed;
  ``signed-in, operators too`` - also a platform operator (setting up their own second factor and
  signing out in the browser; every other route is not there for an operator);
* ``operators`` - platform operators only, 404 to everyone else;
* ``<permission>`` - a member of the organization (or an API token) that holds it, else 403;
  ``<permission> hidden`` - the same, but 404 instead of 403, for things whose existence is private;
  ``..., people only`` - a person's own account or signature: an organization API token is refused
  (403) even when it holds the permission.

A new route, or a route whose policy changed, must be written here: the matrix fails with
"add it to tests/access_oracle.py" until it is.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("owner", "admin", "clinician", "receptionist")

ROLE_TABLE_TEXT = """
# permission               owner admin clinician receptionist
organization:member        yes   yes   yes       yes
patients:read              yes   yes   yes       yes
patients:write             yes   yes   yes       yes
patients:export            yes   yes   yes       -
patients:consent           yes   yes   yes       yes
patients:erase             yes   -     -         -
intake:write               yes   yes   yes       yes
symptoms:write             yes   yes   yes       -
appointments:read          yes   yes   yes       yes
appointments:write         yes   yes   yes       yes
dashboard:read             yes   yes   yes       yes
engagement:write           yes   yes   yes       yes
consultations:read         yes   yes   yes       yes
consultations:write        yes   -     yes       -
clinical:read              yes   -     yes       -
reports:write              yes   -     yes       -
reports:sign               yes   -     yes       -
reports:export             yes   -     yes       -
health_data:read           yes   yes   yes       -
jobs:read                  yes   yes   yes       yes
sync:read                  yes   yes   yes       -
sync:run                   yes   yes   -         -
admin:integrations         yes   yes   -         -
admin:staff                yes   yes   -         -
admin:tokens               yes   yes   -         -
admin:audit                yes   yes   -         -
audit:export               yes   -     -         -
admin:billing              yes   yes   -         -
admin:webhooks             yes   yes   -         -
admin:organization         yes   yes   -         -
organization:security      yes   -     -         -
organization:retention     yes   -     -         -
admin:health               yes   yes   -         -
billing:read               yes   yes   -         yes
billing:read_own           yes   yes   yes       yes
billing:write              yes   yes   -         yes
billing:issue              yes   yes   -         yes
billing:payments           yes   yes   -         yes
billing:void               yes   yes   -         -
billing:export             yes   yes   -         -
billing:settings           yes   yes   -         -
"""

ROUTES_TEXT = """
# methods rule                                                                      needs
GET      /                                                                            public
GET      /account                                                                     signed-in
POST     /account/api-logins/<family_id>/end                                          signed-in
POST     /account/password                                                            signed-in
GET,POST /account/professional-profile                                                organization:member
POST     /account/profile                                                             signed-in
GET      /account/security                                                            signed-in, operators too
POST     /account/security/organization                                               organization:security
POST     /account/security/passkeys                                                   signed-in, operators too
POST     /account/security/passkeys/<passkey_id>/remove                               signed-in, operators too
POST     /account/security/passkeys/options                                           signed-in, operators too
POST     /account/security/recovery-codes                                             signed-in, operators too
POST     /account/security/totp                                                       signed-in, operators too
POST     /account/security/totp/remove                                                signed-in, operators too
GET,POST /account/security/totp/setup                                                 signed-in, operators too
GET      /account/sessions                                                            signed-in
POST     /account/sessions/<session_id>/end                                           signed-in
POST     /account/sessions/end-others                                                 signed-in
GET      /api/v1/admin/active-patients/<organization_id>                              patients:read
GET      /api/v1/admin/active-patients/<organization_id>/summary                      dashboard:read
GET      /api/v1/admin/contacts/<organization_id>/with-appointments                   patients:read
POST     /api/v1/admin/database/cleanup                                               operators
GET      /api/v1/admin/monitoring/organization-health                                 admin:health
GET      /api/v1/admin/monitoring/system-health                                       operators
POST     /api/v1/admin/organization/cleanup                                           organization:retention
GET      /api/v1/admin/organization/retention                                         organization:retention
PUT      /api/v1/admin/organization/retention                                         organization:retention
GET      /api/v1/admin/sync/dashboard/<organization_id>                               sync:read
POST     /api/v1/admin/sync/schedule/<organization_id>                                sync:run
GET      /api/v1/appointment-types                                                    appointments:read
POST     /api/v1/appointments                                                         appointments:write
GET      /api/v1/appointments/<appointment_id>                                        appointments:read
PATCH    /api/v1/appointments/<appointment_id>                                        appointments:write
POST     /api/v1/appointments/<appointment_id>/cancel                                 appointments:write
GET      /api/v1/appointments/<organization_id>/upcoming                              appointments:read
GET      /api/v1/appointments/<organization_id>/upcoming/summary                      appointments:read
GET      /api/v1/appointments/upcoming                                                appointments:read
GET      /api/v1/audit/export                                                         audit:export
GET      /api/v1/audit/verification                                                   admin:audit
POST     /api/v1/audit/verify                                                         admin:audit
POST     /api/v1/auth/confirm-email                                                   public
POST     /api/v1/auth/forgot-password                                                 public
GET      /api/v1/auth/health                                                          public
POST     /api/v1/auth/login                                                           public
POST     /api/v1/auth/logout                                                          signed-in
GET      /api/v1/auth/me                                                              signed-in
PUT      /api/v1/auth/me                                                              signed-in
GET      /api/v1/auth/mfa                                                             signed-in
POST     /api/v1/auth/mfa/recovery-codes                                              signed-in
POST     /api/v1/auth/mfa/totp                                                        signed-in
DELETE   /api/v1/auth/mfa/totp                                                        signed-in
POST     /api/v1/auth/mfa/totp/confirm                                                signed-in
POST     /api/v1/auth/mfa/verify                                                      public
GET      /api/v1/auth/organization/<organization_id>/access                           organization:member
POST     /api/v1/auth/refresh                                                         public
POST     /api/v1/auth/register                                                        public
POST     /api/v1/auth/resend-confirmation                                             public
POST     /api/v1/auth/reset-password                                                  public
GET      /api/v1/auth/sessions                                                        signed-in
DELETE   /api/v1/auth/sessions/<session_id>                                           signed-in
POST     /api/v1/auth/sessions/revoke-others                                          signed-in
GET      /api/v1/auth/verify                                                          organization:member
POST     /api/v1/auth/verify-email                                                    public
GET      /api/v1/billing/credit-notes/<credit_note_id>                                billing:read_own
GET      /api/v1/billing/exports                                                      billing:export
GET      /api/v1/billing/invoices                                                     billing:read_own
POST     /api/v1/billing/invoices                                                     billing:write
GET      /api/v1/billing/invoices/<invoice_id>                                        billing:read_own
PATCH    /api/v1/billing/invoices/<invoice_id>                                        billing:write
DELETE   /api/v1/billing/invoices/<invoice_id>                                        billing:write
POST     /api/v1/billing/invoices/<invoice_id>/apply-credit                           billing:payments
POST     /api/v1/billing/invoices/<invoice_id>/credit-notes                           billing:void
POST     /api/v1/billing/invoices/<invoice_id>/issue                                  billing:issue
POST     /api/v1/billing/invoices/<invoice_id>/lines                                  billing:write
PATCH    /api/v1/billing/invoices/<invoice_id>/lines/<line_id>                        billing:write
DELETE   /api/v1/billing/invoices/<invoice_id>/lines/<line_id>                        billing:write
POST     /api/v1/billing/invoices/<invoice_id>/payments                               billing:payments
POST     /api/v1/billing/invoices/<invoice_id>/refunds                                billing:payments
POST     /api/v1/billing/invoices/<invoice_id>/void                                   billing:void
GET      /api/v1/billing/items                                                        billing:read_own
POST     /api/v1/billing/items                                                        billing:settings
GET      /api/v1/billing/items/<item_id>                                              billing:read_own
PATCH    /api/v1/billing/items/<item_id>                                              billing:settings
DELETE   /api/v1/billing/items/<item_id>                                              billing:settings
GET      /api/v1/billing/patients/<patient_id>/balance                                billing:read_own
POST     /api/v1/billing/patients/<patient_id>/credit-refunds                         billing:payments
GET      /api/v1/billing/receivables                                                  billing:read
GET      /api/v1/billing/settings                                                     billing:read
PATCH    /api/v1/billing/settings                                                     billing:settings
GET      /api/v1/billing/tax-rates                                                    billing:read_own
POST     /api/v1/billing/tax-rates                                                    billing:settings
GET      /api/v1/cliniko/debug/<organization_id>                                      admin:integrations
POST     /api/v1/cliniko/import-patients/<organization_id>                            sync:run
GET      /api/v1/cliniko/status/<organization_id>                                     sync:read
POST     /api/v1/cliniko/sync/<organization_id>                                       sync:run
GET      /api/v1/cliniko/test-connection/<organization_id>                            admin:integrations
POST     /api/v1/consultation/<session_id>/cancel                                     consultations:write
PUT      /api/v1/consultation/<session_id>/medication-plan                            consultations:write hidden
POST     /api/v1/consultation/<session_id>/stop                                       consultations:write
POST     /api/v1/consultation/<session_id>/transcript                                 consultations:write hidden
GET      /api/v1/consultation/<session_id>/transcript                                 clinical:read hidden
GET      /api/v1/consultation/detail/<consultation_id>                                consultations:read
GET      /api/v1/consultation/history/<patient_id>                                    consultations:read
POST     /api/v1/consultation/start                                                   consultations:write
GET      /api/v1/dashboard/<organization_id>                                          dashboard:read
GET      /api/v1/dashboard/<organization_id>/activity                                 dashboard:read
GET      /api/v1/dashboard/<organization_id>/summary                                  dashboard:read
GET      /api/v1/health-data                                                          health_data:read hidden
GET      /api/v1/health-data/                                                         health_data:read hidden
DELETE   /api/v1/health-data/<processing_id>                                          health_data:read hidden
GET      /api/v1/health-data/health                                                   public
GET      /api/v1/health-data/processing/<processing_id>                               health_data:read hidden
POST     /api/v1/health-data/upload                                                   health_data:read hidden
GET      /api/v1/health/                                                              public
GET      /api/v1/health/db                                                            public
GET      /api/v1/health/migration                                                     public
POST     /api/v1/healthkit/upload                                                     health_data:read hidden
GET      /api/v1/healthkit/upload-status/<upload_id>                                  health_data:read hidden
GET      /api/v1/insights/<insight_id>                                                health_data:read hidden
POST     /api/v1/insights/generate                                                    health_data:read hidden
GET      /api/v1/insights/history/<patient_id>                                        health_data:read hidden
GET      /api/v1/insights/status                                                      signed-in
POST     /api/v1/intake/patients                                                      intake:write
GET      /api/v1/intake/patients                                                      patients:read
GET      /api/v1/intake/patients/<patient_id>                                         patients:read
POST     /api/v1/intake/patients/<patient_id>/symptoms                                intake:write
GET      /api/v1/intake/symptoms                                                      patients:read
POST     /api/v1/intake/user_symptoms                                                 symptoms:write
GET      /api/v1/integrations/<organization_id>/cors                                  admin:webhooks
PUT      /api/v1/integrations/<organization_id>/cors                                  admin:webhooks
GET      /api/v1/jobs/<job_id>                                                        jobs:read
GET      /api/v1/metrics/health                                                       operators
GET      /api/v1/metrics/system                                                       operators
GET      /api/v1/metrics/user/<user_id>                                               organization:member
GET      /api/v1/openapi.json                                                         public
GET      /api/v1/pat/analysis/<analysis_id>                                           health_data:read hidden
POST     /api/v1/pat/analyze                                                          health_data:read hidden
POST     /api/v1/pat/analyze-step-data                                                health_data:read hidden
GET      /api/v1/pat/health                                                           signed-in
GET      /api/v1/pat/models/info                                                      signed-in
GET      /api/v1/patients/<organization_id>/active/summary                            dashboard:read
GET      /api/v1/patients/<organization_id>/patients                                  patients:read
GET      /api/v1/patients/<organization_id>/patients/appointment-types/summary        dashboard:read
GET      /api/v1/patients/<organization_id>/patients/by-appointment-type/<appointment_type> patients:read
GET      /api/v1/patients/<organization_id>/patients/with-appointments                patients:read
GET      /api/v1/patients/<patient_id>                                                patients:read
PUT      /api/v1/patients/<patient_id>                                                patients:write
GET      /api/v1/patients/<patient_id>/export                                         patients:export
GET      /api/v1/patients/<patient_id>/history                                        patients:read
POST     /api/v1/patients/create                                                      patients:write
GET      /api/v1/patients/dashboard-stats                                             dashboard:read
GET      /api/v1/patients/list/                                                       patients:read
GET      /api/v1/patients/search/                                                     patients:read
GET      /api/v1/practitioners                                                        appointments:read
GET      /api/v1/profile/                                                             organization:member, people only
PUT      /api/v1/profile/                                                             organization:member, people only
GET      /api/v1/profile/practitioners                                                organization:member
GET      /api/v1/reengagement/<organization_id>/dashboard-summary                     dashboard:read
POST     /api/v1/reengagement/<organization_id>/patient/<patient_id>/contact          engagement:write
GET      /api/v1/reengagement/<organization_id>/patient/<patient_id>/details          dashboard:read
GET      /api/v1/reengagement/<organization_id>/prioritized                           dashboard:read
GET      /api/v1/reengagement/<organization_id>/risk-metrics                          dashboard:read
GET      /api/v1/reports/<report_id>                                                  clinical:read hidden
PATCH    /api/v1/reports/<report_id>                                                  reports:write hidden
POST     /api/v1/reports/<report_id>/amend                                            reports:write hidden
GET      /api/v1/reports/<report_id>/pdf                                              reports:export hidden
POST     /api/v1/reports/<report_id>/sign                                             reports:sign hidden, people only
POST     /api/v1/reports/generate-session                                             reports:write hidden
GET      /api/v1/reports/list                                                         clinical:read hidden
GET      /api/v1/reports/templates                                                    reports:write hidden
POST     /api/v1/reports/templates                                                    reports:write hidden
PUT      /api/v1/reports/templates/<template_id>                                      reports:write hidden
POST     /api/v1/reports/verify                                                       organization:member
GET      /api/v1/sync/history/<organization_id>                                       sync:read
GET      /api/v1/sync/progress/<sync_id>                                              sync:read
GET      /api/v1/sync/scheduler/status                                                sync:read
POST     /api/v1/sync/scheduler/trigger                                               sync:run
POST     /api/v1/sync/trigger                                                         sync:run
GET      /api/v1/users/list                                                           admin:staff
GET      /api/v1/users/me                                                             organization:member, people only
GET      /api/v1/webhooks/<organization_id>/analytics                                 admin:webhooks
GET      /api/v1/webhooks/<organization_id>/endpoints                                 admin:webhooks
POST     /api/v1/webhooks/<organization_id>/endpoints                                 admin:webhooks
GET      /api/v1/webhooks/<organization_id>/endpoints/<endpoint_id>                   admin:webhooks
PATCH    /api/v1/webhooks/<organization_id>/endpoints/<endpoint_id>                   admin:webhooks
DELETE   /api/v1/webhooks/<organization_id>/endpoints/<endpoint_id>                   admin:webhooks
POST     /api/v1/webhooks/<organization_id>/endpoints/<endpoint_id>/rotate-secret     admin:webhooks
GET      /api/v1/webhooks/<organization_id>/logs                                      admin:webhooks
POST     /api/v1/webhooks/<organization_id>/retry/<log_id>                            admin:webhooks
GET      /api/v1/webhooks/<organization_id>/status/<log_id>                           admin:webhooks
GET      /api/v1/webhooks/<organization_id>/templates                                 admin:webhooks
POST     /api/v1/webhooks/<organization_id>/trigger                                   admin:webhooks
GET      /appointments                                                                appointments:read
GET      /appointments/<appointment_id>                                               appointments:read
POST     /appointments/<appointment_id>/arrived                                       appointments:write
GET,POST /appointments/<appointment_id>/cancel                                        appointments:write
POST     /appointments/<appointment_id>/did-not-arrive                                appointments:write
GET,POST /appointments/<appointment_id>/reschedule                                    appointments:write
GET,POST /appointments/new                                                            appointments:write
GET      /appointments/patient-options                                                appointments:write
POST     /appointments/practitioners                                                  admin:organization
POST     /appointments/practitioners/<practitioner_id>/archive                        admin:organization
GET,POST /appointments/practitioners/<practitioner_id>/edit                           admin:organization
POST     /appointments/practitioners/<practitioner_id>/restore                        admin:organization
GET      /appointments/setup                                                          admin:organization
POST     /appointments/types                                                          admin:organization
POST     /appointments/types/<appointment_type_id>/archive                            admin:organization
GET,POST /appointments/types/<appointment_type_id>/edit                               admin:organization
POST     /appointments/types/<appointment_type_id>/restore                            admin:organization
GET      /audit                                                                       admin:audit
GET      /audit/verification                                                          admin:audit
POST     /audit/verify                                                                admin:audit
GET      /billing/exports                                                             billing:export
GET      /billing/exports/credit-notes.csv                                            billing:export
GET      /billing/exports/invoices.csv                                                billing:export
GET      /billing/exports/payments.csv                                                billing:export
GET      /billing/invoices                                                            billing:read_own
GET      /billing/invoices/<invoice_id>                                               billing:read_own
POST     /billing/invoices/<invoice_id>/apply-credit                                  billing:payments
POST     /billing/invoices/<invoice_id>/credit-note                                   billing:void
POST     /billing/invoices/<invoice_id>/delete                                        billing:write
POST     /billing/invoices/<invoice_id>/email                                         billing:issue
POST     /billing/invoices/<invoice_id>/issue                                         billing:issue
POST     /billing/invoices/<invoice_id>/lines                                         billing:write
POST     /billing/invoices/<invoice_id>/lines/<line_id>/remove                        billing:write
POST     /billing/invoices/<invoice_id>/payments                                      billing:payments
GET      /billing/invoices/<invoice_id>/pdf                                           billing:read_own
POST     /billing/invoices/<invoice_id>/void                                          billing:void
GET,POST /billing/invoices/new                                                        billing:write
GET      /billing/items                                                               billing:settings
POST     /billing/items                                                               billing:settings
POST     /billing/items/<item_id>/archive                                             billing:settings
GET      /billing/patients/<patient_id>                                               billing:read_own
GET      /billing/receivables                                                         billing:read
GET      /billing/settings                                                            billing:settings
POST     /billing/settings                                                            billing:settings
GET      /caseload/active                                                             dashboard:read
GET      /caseload/active.csv                                                         dashboard:read
GET,POST /confirm-email                                                               public
GET,POST /confirm-email/<secret>                                                      public
POST     /confirm-email/resend                                                        public
GET      /consultations/<session_id>                                                  consultations:read
POST     /consultations/<session_id>/cancel                                           consultations:write
POST     /consultations/<session_id>/medication-plan                                  consultations:write hidden
POST     /consultations/<session_id>/stop                                             consultations:write
GET      /consultations/<session_id>/transcript                                       clinical:read hidden
POST     /consultations/<session_id>/transcript                                       consultations:write hidden
GET      /dashboard                                                                   dashboard:read
GET      /dashboard/revenue                                                           billing:read
GET      /docs                                                                        public
GET      /engagement                                                                  dashboard:read
GET      /engagement/export.csv                                                       dashboard:read
POST     /engagement/patients/<patient_id>/contact                                    engagement:write
GET      /fhir/R4/Appointment                                                         appointments:read
GET      /fhir/R4/Appointment/<resource_id>                                           appointments:read
GET      /fhir/R4/DocumentReference                                                   clinical:read hidden
GET      /fhir/R4/DocumentReference/<resource_id>                                     clinical:read hidden
GET      /fhir/R4/Encounter                                                           consultations:read
GET      /fhir/R4/Encounter/<resource_id>                                             consultations:read
GET      /fhir/R4/Observation                                                         health_data:read
GET      /fhir/R4/Observation/<resource_id>                                           health_data:read
GET      /fhir/R4/Patient                                                             patients:read
GET      /fhir/R4/Patient/<resource_id>                                               patients:read
GET      /fhir/R4/Practitioner                                                        appointments:read
GET      /fhir/R4/Practitioner/<resource_id>                                          appointments:read
GET      /fhir/R4/metadata                                                            public
GET,POST /forgot-password                                                             public
GET      /health                                                                      public
GET      /intake                                                                      intake:write
POST     /intake                                                                      intake:write
GET      /intake/<draft_id>/<step>                                                    intake:write
POST     /intake/<draft_id>/<step>                                                    intake:write
POST     /intake/<draft_id>/<step>/autosave                                           intake:write
POST     /intake/<draft_id>/discard                                                   intake:write
POST     /intake/<draft_id>/symptoms/add                                              intake:write
POST     /intake/<draft_id>/symptoms/remove                                           intake:write
GET      /intake/<draft_id>/symptoms/search                                           intake:write
GET      /integrations                                                                admin:integrations
GET,POST /integrations/cliniko-writes                                                 admin:integrations
POST     /integrations/connect                                                        admin:integrations
POST     /integrations/disconnect                                                     admin:integrations
POST     /integrations/schedule                                                       admin:integrations
POST     /integrations/shard                                                          admin:integrations
POST     /integrations/test                                                           admin:integrations
GET      /invitations/<secret>                                                        public
POST     /invitations/<secret>/accept                                                 public
POST     /invitations/<secret>/decline                                                public
POST     /invitations/<secret>/join                                                   public
GET      /jobs/<job_id>                                                               jobs:read
POST     /jobs/<job_id>/cancel                                                        jobs:read
GET,POST /login                                                                       public
POST     /login/passkey                                                               public
POST     /login/passkey/options                                                       public
GET,POST /login/verify                                                                public
POST     /login/verify/passkey                                                        public
POST     /login/verify/passkey/options                                                public
POST     /logout                                                                      signed-in, operators too
GET      /metrics                                                                     operators
GET      /operator/                                                                   operators
POST     /operator/jobs/<job_id>/discard                                              operators
POST     /operator/jobs/<job_id>/retry                                                operators
GET      /operator/organizations                                                      operators
GET      /operator/retention                                                          operators
POST     /operator/retention/run                                                      operators
POST     /organizations/switch                                                        signed-in
GET      /patients                                                                    patients:read
GET      /patients/<patient_id>                                                       patients:read
POST     /patients/<patient_id>/archive                                               patients:write
GET      /patients/<patient_id>/consultations                                         consultations:read
GET,POST /patients/<patient_id>/consultations/new                                     consultations:write
GET,POST /patients/<patient_id>/edit                                                  patients:write
GET      /patients/<patient_id>/export                                                patients:export
GET      /patients/<patient_id>/health-data                                           health_data:read hidden
POST     /patients/<patient_id>/health-data/analyses/<analysis_id>/insights           health_data:read hidden
GET      /patients/<patient_id>/health-data/analyses/<analysis_id>/progress           health_data:read hidden
POST     /patients/<patient_id>/health-data/diary                                     health_data:read hidden
POST     /patients/<patient_id>/health-data/uploads                                   health_data:read hidden
POST     /patients/<patient_id>/health-data/uploads/<upload_id>/analyse               health_data:read hidden
POST     /patients/<patient_id>/health-data/uploads/<upload_id>/delete                health_data:read hidden
GET      /patients/<patient_id>/health-data/uploads/<upload_id>/progress              health_data:read hidden
POST     /patients/<patient_id>/unarchive                                             patients:write
GET,POST /patients/new                                                                patients:write
GET      /redoc                                                                       public
GET      /reports                                                                     clinical:read hidden
GET      /reports/<report_id>                                                         clinical:read hidden
POST     /reports/<report_id>/amend                                                   reports:write hidden
GET      /reports/<report_id>/diff                                                    clinical:read hidden
GET      /reports/<report_id>/pdf                                                     reports:export hidden
GET      /reports/<report_id>/progress                                                clinical:read hidden
POST     /reports/<report_id>/retry                                                   reports:write hidden
POST     /reports/<report_id>/sections                                                reports:write hidden
POST     /reports/<report_id>/sign                                                    reports:sign hidden
GET      /reports/new                                                                 reports:write hidden
POST     /reports/new                                                                 reports:write hidden
GET      /reports/templates                                                           reports:write hidden
GET,POST /reports/templates/<template_id>                                             reports:write hidden
GET,POST /reports/templates/new                                                       reports:write hidden
GET      /reports/verify                                                              organization:member
POST     /reports/verify                                                              organization:member
GET,POST /reset-password                                                              public
GET,POST /reset-password/<secret>                                                     public
GET,POST /set-password/<secret>                                                       public
GET      /settings/api-tokens                                                         admin:tokens
POST     /settings/api-tokens                                                         admin:tokens
POST     /settings/api-tokens/<token_id>/revoke                                       admin:tokens
GET      /settings/integrations                                                       admin:webhooks
POST     /settings/integrations/cors                                                  admin:webhooks
POST     /settings/integrations/deliveries/<log_id>/retry                             admin:webhooks
POST     /settings/integrations/endpoints                                             admin:webhooks
POST     /settings/integrations/endpoints/<endpoint_id>/delete                        admin:webhooks
POST     /settings/integrations/endpoints/<endpoint_id>/rotate                        admin:webhooks
POST     /settings/integrations/endpoints/<endpoint_id>/test                          admin:webhooks
POST     /settings/integrations/endpoints/<endpoint_id>/toggle                        admin:webhooks
GET,POST /signup                                                                      public
GET      /staff                                                                       admin:staff
POST     /staff/invitations/<invitation_id>/revoke                                    admin:staff
POST     /staff/members                                                               admin:staff
POST     /staff/members/<membership_id>/deactivate                                    admin:staff
POST     /staff/members/<membership_id>/role                                          admin:staff
GET      /static/<path:filename>                                                      public
GET      /symptoms                                                                    patients:read
POST     /symptoms/custom                                                             symptoms:write
GET      /sync                                                                        sync:read
GET      /sync/history                                                                sync:read
GET      /sync/outbox                                                                 sync:read
GET,POST /sync/outbox/<entry_id>/conflict                                             patients:write
POST     /sync/outbox/<entry_id>/retry                                                patients:write
GET      /sync/records/<resource>/<local_id>/status                                   patients:read
GET      /sync/runs/<sync_id>                                                         sync:read
POST     /sync/runs/<sync_id>/cancel                                                  sync:run
POST     /sync/runs/<sync_id>/resume                                                  sync:run
POST     /sync/start                                                                  sync:run
GET      /today                                                                       appointments:read
# Patient consent and erasure (issue 20)
GET      /api/v1/organization/privacy                                                 patients:erase
PUT      /api/v1/organization/privacy                                                 patients:erase
GET      /api/v1/patients/<patient_id>/consents                                       patients:read
POST     /api/v1/patients/<patient_id>/consents                                       patients:consent
POST     /api/v1/patients/<patient_id>/consents/<consent_id>/withdraw                 patients:consent
GET      /api/v1/patients/<patient_id>/erasure                                        patients:erase
POST     /api/v1/patients/<patient_id>/erasure                                        patients:erase
GET      /api/v1/patients/<patient_id>/erasure/inventory                              patients:erase
POST     /api/v1/patients/<patient_id>/erasure/<request_id>/cancel                    patients:erase
POST     /api/v1/patients/<patient_id>/erasure/<request_id>/carry-out                 patients:erase
POST     /patients/<patient_id>/consents                                              patients:consent
POST     /patients/<patient_id>/consents/<consent_id>/withdraw                        patients:consent
GET      /patients/<patient_id>/erasure                                               patients:erase
POST     /patients/<patient_id>/erasure                                               patients:erase
POST     /patients/<patient_id>/erasure/<request_id>/cancel                           patients:erase
POST     /patients/<patient_id>/erasure/<request_id>/carry-out                        patients:erase
GET      /settings/privacy                                                            patients:erase
POST     /settings/privacy                                                            patients:erase
"""

PUBLIC, SIGNED_IN, OPERATORS = "public", "signed-in", "operators"
# What a caller gets: "allowed" (neither 401 nor 403, and not the 404 of a denial), "sign-in" (401
# on the API, a redirect to /login in the browser), or the status of a refusal.
ALLOWED, SIGN_IN, FORBIDDEN, HIDDEN = "allowed", "sign-in", 403, 404
PEOPLE_ONLY = "403: an API token is not a person"


@dataclass(frozen=True)
class Need:
    """What one route needs, as written in ROUTES."""

    kind: str  # PUBLIC, SIGNED_IN, OPERATORS or "permission"
    permission: str | None = None
    hidden: bool = False
    operators_too: bool = False
    people_only: bool = False


def _role_table() -> dict[str, frozenset[str]]:
    held: dict[str, set[str]] = {role: set() for role in ROLES}
    for line in ROLE_TABLE_TEXT.strip().splitlines():
        if line.startswith("#"):
            continue
        permission, *marks = line.split()
        assert len(marks) == len(ROLES), f"ROLE_TABLE: {line!r} needs one yes/- per role"
        for role, mark in zip(ROLES, marks, strict=True):
            assert mark in ("yes", "-"), f"ROLE_TABLE: {line!r}: write yes or -"
            if mark == "yes":
                held[role].add(permission)
    return {role: frozenset(permissions) for role, permissions in held.items()}


def _need(words: str) -> Need:
    if words == PUBLIC:
        return Need(PUBLIC)
    if words == SIGNED_IN:
        return Need(SIGNED_IN)
    if words == "signed-in, operators too":
        return Need(SIGNED_IN, operators_too=True)
    if words == OPERATORS:
        return Need(OPERATORS)
    words, people_only = words.removesuffix(", people only"), words.endswith(", people only")
    permission, _, hidden = words.partition(" ")
    assert permission in PERMISSIONS, f"ROUTES: {permission!r} is not in ROLE_TABLE"
    assert hidden in ("", "hidden"), f"ROUTES: {words!r}: only 'hidden' may follow a permission"
    return Need("permission", permission, hidden=hidden == "hidden", people_only=people_only)


def _routes() -> dict[tuple[str, str], Need]:
    routes: dict[tuple[str, str], Need] = {}
    for line in ROUTES_TEXT.strip().splitlines():
        if line.startswith("#"):
            continue
        methods, rule, words = line.split(maxsplit=2)
        for method in methods.split(","):
            assert (method, rule) not in routes, f"ROUTES: {method} {rule} is written twice"
            routes[(method, rule)] = _need(words)
    return routes


ROLE_TABLE = _role_table()
PERMISSIONS = frozenset(line.split()[0] for line in ROLE_TABLE_TEXT.strip().splitlines() if not line.startswith("#"))
ROUTES = _routes()


def need_of(method: str, rule: str) -> Need:
    """What ``method rule`` needs, or a failure that says where to write it."""
    need = ROUTES.get((method, rule))
    assert need is not None, (
        f"{method} {rule} is not in the access oracle: add it to tests/access_oracle.py (ROUTES) with what it needs "
        "(public, signed-in, operators, a permission, or a permission and 'hidden'), in the change that adds the route"
    )
    return need


def expected(need: Need, actor: str) -> str | int:
    """What ``actor`` (anonymous, operator, or a role of the organization) gets from a route that
    needs ``need`` in their own organization."""
    if need.kind == PUBLIC:
        return ALLOWED
    if actor == "anonymous":
        return SIGN_IN
    if need.kind == OPERATORS:
        return ALLOWED if actor == "operator" else HIDDEN
    if actor == "operator":
        return ALLOWED if need.operators_too else HIDDEN
    if need.kind == SIGNED_IN:
        return ALLOWED
    if need.permission in ROLE_TABLE[actor]:
        return ALLOWED
    return HIDDEN if need.hidden else FORBIDDEN


def expected_for_scopes(need: Need, scopes: frozenset[str]) -> str | int:
    """What an organization API token holding exactly ``scopes`` gets from a route that needs ``need``."""
    if need.kind in (PUBLIC, SIGNED_IN):
        return ALLOWED
    if need.kind == OPERATORS:
        return HIDDEN
    if need.permission in scopes:
        return PEOPLE_ONLY if need.people_only else ALLOWED
    return HIDDEN if need.hidden else FORBIDDEN

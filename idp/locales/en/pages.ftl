# The pages' texts, in English. Every id of ../fr/pages.ftl, in the same order and with the
# same arguments (a test checks it). French school words keep their meaning: "Élève" is a
# pupil, "représentant légal" a legal guardian, "établissement" the school.

## Every page
site-name = Connexion scolaire
site-subtitle = Pupils and guardians
skip-to-content = Skip to content
footer = Sign-in service of the schools.
language = Language
back-to-sign-in = Back to sign-in
back-home = Back to the home page

## The sign-in page
sign-in = Sign in
i-am = I am:
profile-eleve = Pupil
profile-responsable = Legal guardian
profile-responsable-hint = Parent or guardian of a pupil
account-kind-eleve = Pupil
account-kind-responsable = Guardian of a pupil
profile-staff = Staff / Other and guest
profile-chosen = Profile:
profile-change = change profile
upstream-sign-in = Sign in with
upstream-what = What is FranceConnect?
upstream-what-title = What is FranceConnect? - new window
or = OR
identifier = Identifier
identifier-forgotten = Forgotten your identifier?
password = Password
password-forgotten = Forgotten your password?
no-account = I have no account
sign-in-empty = Type your identifier and your password.
sign-in-wrong = Wrong identifier or password.
sign-in-throttled = Too many sign-in attempts. Wait a few minutes before trying again.
sign-in-wrong-profile = This is a “{ $profile }” account. Choose that profile to sign in.
temporary-expired-title = Temporary password expired
temporary-expired = Your temporary password is no longer valid. Ask your school for a new password.
disabled-title = Account disabled
disabled = This account is disabled. Contact your school.
locked-title = Account locked
locked = This account is locked for a while. Try again in a few minutes or contact your school.

## Errors
error-not-found-title = Page not found
error-not-found = The page you asked for does not exist.
error-forbidden-title = Access denied
error-forbidden = You do not have access to this page or to these accounts.
error-stale-title = The accounts have changed
error-stale = One of the accounts changed meanwhile (disabled, or left the school): nothing was changed. Select again.
error-bad-request-title = Bad request
error-bad-request = The request could not be understood. Go back to the sign-in page and try again.
error-csrf-title = The page has expired
error-csrf = For your security, this form is no longer valid. Go back to the previous page, reload it and try again.
error-busy-title = Too many sign-ins
error-busy = Too many sign-ins right now, try again in a few seconds.
error-unavailable-title = Service unavailable for a moment
error-unavailable = The service is unavailable for a moment. Try again shortly.
error-internal-title = Unexpected error
error-internal = An unexpected error happened. Try again later; if it persists, tell your school.

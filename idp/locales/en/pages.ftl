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

## Choosing a password
password-too-short = The password must have at least { $count } characters.
password-too-long = The password must have at most { $count } characters.
password-no-digit = The password must contain at least one digit.
password-no-letter = The password must contain at least one letter.
password-contains-name = The password must contain neither your last name nor your first name.
password-contains-identifier = The password must not contain your identifier.
password-too-common = This password is too common or too easy to guess: choose another one.
password-mismatch = The two passwords typed are not the same.
password-new = New password
password-confirm = Confirm the password
password-rule-length = { $min } to { $max } characters;
password-rule-letter-digit = at least one letter and one digit;
password-rule-names = neither your last name, nor your first name, nor your identifier;
password-rule-common = not a too common password.
next = Next
confirm = Confirm

## The home page
hello = Hello { $name }
home-title = My services
home-signed-in-as = You are signed in with the profile <strong>{ $profile }</strong> (identifier <code>{ $identifier }</code>).
home-confirm-email = You must confirm your e-mail address
home-confirm-mobile = You must confirm your mobile number
my-account = My account
home-my-account-pupil = : my information, the history of my sign-ins.
home-my-account-guardian = : my information, my children, the history of my sign-ins.
home-via-upstream = You signed in with { $provider }: you have no password on this service. To change your password, change it at the account you chose on { $provider } (impots.gouv.fr, ameli.fr, l'Identité Numérique La Poste…).
my-children = My children
no-children = No pupil is linked to your account.
class-of = , class { $class }
school-is = School:
link-upstream = Also sign in with { $provider }
sign-out = Sign out

## First connection
activation-title = First connection
activation-intro = Hello { $name }. Your temporary password is recognised: now choose your own password. Keep it safe, with your identifier <code>{ $identifier }</code>.
activation-children-dates = Confirm the birth date of each of your children.
activation-own-date = Confirm your birth date.
birth-date = Birth date (dd/mm/yyyy)
not-guardian = I am not this pupil's legal guardian
email-optional = E-mail address (optional)
email-optional-hint = A confirmation link will be sent to it. A confirmed address lets you recover your identifier or your password.
activation-done-title = Account activated
activation-done = Your account is activated
activation-done-password = Your password is saved. From now on you sign in with your identifier <strong id=identifiant>{ $identifier }</strong> and this password.
activation-done-email = A confirmation link was sent to <strong>{ $address }</strong>: open it within 24 hours for this address to be saved.
activation-done-disputed = Your statement “I am not the legal guardian” is recorded: tell the school too, which will correct its records.
go-to-services = Go to my services
activation-suspended-title = First connection suspended
activation-suspended = Too many wrong birth dates were typed for this account today. For security, the first connection is suspended until tomorrow; you may also ask the school for a new letter.
activation-impossible-title = First connection impossible
activation-impossible = The school's records do not allow your identity to be confirmed (no birth date or no pupil linked). Contact the school, which will complete the records.
activation-interrupted-title = First connection interrupted
activation-interrupted = The birth dates typed do not match the school's records. For security, the first connection is interrupted: sign in again with your temporary password, or check the dates with the school.
activation-expired = This step has expired or was already used. Sign in again with your identifier and your temporary password.
activation-date-mismatch = The birth date does not match the school's records (day, month, year). Tries left: { $tries }.

## Recovery
recovery-password-title = Forgotten password
recovery-receive = Receive
recovery-by-email = a link by e-mail (confirmed address)
recovery-by-sms = a code by SMS (mobile known to the school)
continue = Continue
recovery-code-title = Code received by SMS
recovery-code-intro = If this account has a known mobile number, a 6-digit code has just been sent to it. It is valid for 10 minutes.
code = Code
validate = Confirm
recovery-code-none = No SMS? The account may have no known number: ask the school.
recovery-new-title = New password
save = Save
recovery-identifier-title = Forgotten identifier
recovery-identifier-intro = Give your account's confirmed e-mail address, or the mobile number the school knows: your identifier will be sent there.
recovery-contact = E-mail address or mobile phone
recovery-identifier-send = Send me my identifier
start-again = Start again
recovery-expired = This link or code is no longer valid: it was already used, or it has expired. Make the request again.
recovery-too-many-title = Too many requests
recovery-too-many = Too many requests were made for this account or from this connection. Try again tomorrow, or ask the school.
recovery-identifier-missing = Give your identifier (for example firstname.lastname).
recovery-check-mail-title = Check your mailbox
recovery-check-mail = If this account has a confirmed e-mail address, a link to choose a new password has just been sent to it; it is valid for 30 minutes. No message? The address may never have been confirmed, or the account never activated: try by SMS, or ask the school.
recovery-wrong-code = Wrong code. Check the SMS you received (6 digits). Tries left: { $tries }.
recovery-changed-title = Password changed
recovery-changed = Your new password is saved. Sign in with your identifier { $identifier } and this password.
recovery-contact-missing = Give an e-mail address (firstname.lastname@example.fr) or a mobile number (06 12 34 56 78).
recovery-identifier-sent-email = If this address is the confirmed address of an account, your identifier has just been sent to it. No message? The address may never have been confirmed: try with your mobile number, or ask the school.
recovery-identifier-sent-sms = If this number is known to an account or a school, your identifier has just been sent to it by SMS. No message? Ask the school.

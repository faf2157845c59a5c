# The pages' texts, in French (the default). Every id here is in ../en/pages.ftl too, in the
# same order and with the same arguments (a test checks it). Vocabulary: ÉduConnect's help
# pages (../../../shared/seeds in the project's notes): "identifiant", "représentant légal",
# "responsable d'élève", "établissement".

## Every page
site-name = Connexion scolaire
site-subtitle = Élèves et responsables
skip-to-content = Aller au contenu
footer = Service d'authentification des établissements scolaires.
language = Langue
back-to-sign-in = Retour à la connexion
back-home = Retour à l'accueil

## The sign-in page
sign-in = Se connecter
i-am = Je suis :
profile-eleve = Élève
profile-responsable = Représentant légal
profile-responsable-hint = Responsable d'élève
account-kind-eleve = Élève
account-kind-responsable = Responsable d'élève
profile-staff = Personnel / Autre et invité
profile-chosen = Profil :
profile-change = changer de profil
upstream-sign-in = S'identifier avec
upstream-what = Qu'est-ce que FranceConnect ?
upstream-what-title = Qu'est-ce que FranceConnect ? - nouvelle fenêtre
or = OU
identifier = Identifiant
identifier-forgotten = Identifiant oublié ?
password = Mot de passe
password-forgotten = Mot de passe oublié ?
no-account = Je n'ai pas de compte
sign-in-empty = Saisissez votre identifiant et votre mot de passe.
sign-in-wrong = Identifiant ou mot de passe incorrect.
sign-in-throttled = Trop de tentatives de connexion. Patientez quelques minutes avant de réessayer.
sign-in-wrong-profile = Ce compte est un compte « { $profile } ». Choisissez ce profil pour vous connecter.
temporary-expired-title = Mot de passe provisoire expiré
temporary-expired = Votre mot de passe provisoire n'est plus valable. Demandez un nouveau mot de passe à votre établissement.
disabled-title = Compte désactivé
disabled = Ce compte est désactivé. Contactez votre établissement.
locked-title = Compte bloqué
locked = Ce compte est temporairement bloqué. Réessayez dans quelques minutes ou contactez votre établissement.

## Errors
error-not-found-title = Page introuvable
error-not-found = La page demandée n'existe pas.
error-forbidden-title = Accès refusé
error-forbidden = Vous n'avez pas accès à cette page ou à ces comptes.
error-stale-title = Les comptes ont changé
error-stale = Un des comptes a changé entre-temps (désactivé, ou parti de l'établissement) : rien n'a été modifié. Refaites la sélection.
error-bad-request-title = Demande incorrecte
error-bad-request = La demande n'a pas pu être comprise. Revenez à la page de connexion et réessayez.
error-csrf-title = La page a expiré
error-csrf = Pour votre sécurité, ce formulaire n'est plus valable. Revenez à la page précédente, actualisez-la et réessayez.
error-busy-title = Trop de connexions
error-busy = Trop de connexions en ce moment, réessayez dans quelques secondes.
error-unavailable-title = Service momentanément indisponible
error-unavailable = Le service est momentanément indisponible. Réessayez dans quelques instants.
error-internal-title = Erreur inattendue
error-internal = Une erreur inattendue s'est produite. Réessayez plus tard ; si elle persiste, prévenez votre établissement.

## Choosing a password
password-too-short = Le mot de passe doit contenir au moins { $count } caractères.
password-too-long = Le mot de passe doit contenir au plus { $count } caractères.
password-no-digit = Le mot de passe doit contenir au moins un chiffre.
password-no-letter = Le mot de passe doit contenir au moins une lettre.
password-contains-name = Le mot de passe ne doit contenir ni votre nom ni votre prénom.
password-contains-identifier = Le mot de passe ne doit pas contenir votre identifiant.
password-too-common = Ce mot de passe est trop courant ou trop facile à deviner : choisissez-en un autre.
password-mismatch = Les deux mots de passe saisis ne sont pas identiques.
password-new = Nouveau mot de passe
password-confirm = Confirmez le mot de passe
password-rule-length = de { $min } à { $max } caractères ;
password-rule-letter-digit = au moins une lettre et un chiffre ;
password-rule-names = ni votre nom, ni votre prénom, ni votre identifiant ;
password-rule-common = pas un mot de passe trop courant.
next = Suivant
confirm = Confirmer

## The home page
hello = Bonjour { $name }
home-title = Mes services
home-signed-in-as = Vous êtes connecté avec le profil <strong>{ $profile }</strong> (identifiant <code>{ $identifier }</code>).
home-confirm-email = Vous devez confirmer votre adresse mail
home-confirm-mobile = Vous devez confirmer votre numéro
my-account = Mon compte
home-my-account-pupil = : mes informations, l'historique de mes connexions.
home-my-account-guardian = : mes informations, mes enfants, l'historique de mes connexions.
home-via-upstream = Vous vous êtes connecté avec { $provider } : vous n'avez pas de mot de passe sur ce service. Pour changer de mot de passe, changez-le auprès du compte que vous avez choisi sur { $provider } (impots.gouv.fr, ameli.fr, l'Identité Numérique La Poste…).
my-children = Mes enfants
no-children = Aucun élève n'est rattaché à votre compte.
class-of = , classe { $class }
school-is = Établissement :
link-upstream = Se connecter aussi avec { $provider }
sign-out = Se déconnecter

## First connection
activation-title = Première connexion
activation-intro = Bonjour { $name }. Votre mot de passe provisoire est reconnu : choisissez maintenant votre propre mot de passe. Conservez-le précieusement, avec votre identifiant <code>{ $identifier }</code>.
activation-children-dates = Confirmez la date de naissance de chacun de vos enfants.
activation-own-date = Confirmez votre date de naissance.
birth-date = Date de naissance (jj/mm/aaaa)
not-guardian = Je ne suis pas le représentant légal de cet élève
email-optional = Adresse électronique (facultatif)
email-optional-hint = Un lien de confirmation y sera envoyé. Une adresse confirmée permet de retrouver son identifiant ou son mot de passe.
activation-done-title = Compte activé
activation-done = Votre compte est activé
activation-done-password = Votre mot de passe est enregistré. Vous vous connecterez désormais avec votre identifiant <strong id=identifiant>{ $identifier }</strong> et ce mot de passe.
activation-done-email = Un lien de confirmation a été envoyé à <strong>{ $address }</strong> : ouvrez-le dans les 24 heures pour que cette adresse soit enregistrée.
activation-done-disputed = Votre déclaration « Je ne suis pas le représentant légal » est enregistrée : signalez-la aussi à l'établissement, qui corrigera son dossier.
go-to-services = Accéder à mes services
activation-suspended-title = Première connexion suspendue
activation-suspended = Trop de dates de naissance erronées ont été saisies pour ce compte aujourd'hui. Par sécurité, la première connexion est suspendue jusqu'à demain ; vous pouvez aussi demander un nouveau courrier à l'établissement.
activation-impossible-title = Première connexion impossible
activation-impossible = Le dossier de l'établissement ne permet pas de confirmer votre identité (aucune date de naissance ou aucun élève rattaché). Contactez l'établissement, qui complètera le dossier.
activation-interrupted-title = Première connexion interrompue
activation-interrupted = Les dates de naissance saisies ne correspondent pas au dossier de l'établissement. Par sécurité, la première connexion est interrompue : reconnectez-vous avec votre mot de passe provisoire, ou vérifiez les dates auprès de l'établissement.
activation-expired = Cette étape a expiré ou a déjà servi. Connectez-vous à nouveau avec votre identifiant et votre mot de passe provisoire.
activation-date-mismatch = La date de naissance ne correspond pas au dossier de l'établissement (jour, mois, année). Essais restants : { $tries }.

## Recovery
recovery-password-title = Mot de passe oublié
recovery-receive = Recevoir
recovery-by-email = un lien par courriel (adresse confirmée)
recovery-by-sms = un code par SMS (portable connu de l'établissement)
continue = Continuer
recovery-code-title = Code reçu par SMS
recovery-code-intro = Si ce compte a un numéro de portable connu, un code à 6 chiffres vient d'y être envoyé. Il est valable 10 minutes.
code = Code
validate = Valider
recovery-code-none = Pas de SMS ? Le compte n'a peut-être aucun numéro connu : adressez-vous à l'établissement.
recovery-new-title = Nouveau mot de passe
save = Enregistrer
recovery-identifier-title = Identifiant oublié
recovery-identifier-intro = Indiquez l'adresse électronique confirmée de votre compte, ou le numéro de portable connu de l'établissement : votre identifiant vous y sera envoyé.
recovery-contact = Adresse électronique ou téléphone portable
recovery-identifier-send = Recevoir mon identifiant
start-again = Recommencer
recovery-expired = Ce lien ou ce code n'est plus valable : il a déjà servi, ou il a expiré. Recommencez la demande.
recovery-too-many-title = Trop de demandes
recovery-too-many = Trop de demandes ont été faites pour ce compte ou depuis cette connexion. Réessayez demain, ou adressez-vous à l'établissement.
recovery-identifier-missing = Indiquez votre identifiant (par exemple prenom.nom).
recovery-check-mail-title = Vérifiez votre messagerie
recovery-check-mail = Si ce compte a une adresse électronique confirmée, un lien pour choisir un nouveau mot de passe vient d'y être envoyé ; il est valable 30 minutes. Pas de message ? L'adresse n'a peut-être jamais été confirmée, ou le compte jamais activé : essayez par SMS, ou adressez-vous à l'établissement.
recovery-wrong-code = Code incorrect. Vérifiez le SMS reçu (6 chiffres). Essais restants : { $tries }.
recovery-changed-title = Mot de passe changé
recovery-changed = Votre nouveau mot de passe est enregistré. Connectez-vous avec votre identifiant { $identifier } et ce mot de passe.
recovery-contact-missing = Indiquez une adresse électronique (prenom.nom@exemple.fr) ou un numéro de portable (06 12 34 56 78).
recovery-identifier-sent-email = Si cette adresse est l'adresse confirmée d'un compte, votre identifiant vient d'y être envoyé. Pas de message ? L'adresse n'a peut-être jamais été confirmée : essayez avec votre numéro de portable, ou adressez-vous à l'établissement.
recovery-identifier-sent-sms = Si ce numéro est connu d'un compte ou d'un établissement, votre identifiant vient d'y être envoyé par SMS. Pas de message ? Adressez-vous à l'établissement.

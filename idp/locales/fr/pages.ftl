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

// Sends the SAML response on to the service without waiting for a click.
document.getElementById("saml-post").submit();

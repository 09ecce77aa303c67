// After a confirmation of identity: sends the kept form again without a second click (the
// button does the same without JavaScript).
document.querySelectorAll('form[data-continue]').forEach(function (form) {
  form.submit();
});

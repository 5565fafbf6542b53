// coi-serviceworker's settings, read by ./coi-serviceworker.js (loaded right after this file).
// require-corp in every browser: it picks COEP credentialless outside Chromium and Firefox, which WebKit
// does not isolate, so a reload there lost isolation (every resource here is same-origin). And reload only
// once the worker is activated: WebKit loaded a reload made while it was still activating past it,
// controlled but not isolated (coi-serviceworker reloads only an uncontrolled page).
window.coi = {
  coepCredentialless: () => false,
  doReload: () =>
    navigator.serviceWorker.ready
      .then(
        ({ active }) =>
          active.state === 'activated' ||
          new Promise((done) => active.addEventListener('statechange', () => active.state === 'activated' && done())),
      )
      .then(() => window.location.reload()),
};

// Shows "Visitor #: N": one POST /visits?path=<this page> per page load, as
// openapi.yaml describes it. No body and no custom header, so the browser
// sends a CORS simple request without a preflight.
//
// Configuration on the script tag, not in this file:
//   data-api         the API's base URL (required)
//   data-timeout-ms  give up after this long (default 3000)
//
// It never throws: any failure leaves a quiet fallback in place.
(function () {
  "use strict";

  var PLACEHOLDER = "…";
  var FALLBACK = "—";
  var script = document.currentScript;

  function settle(text, unavailable) {
    var value = document.getElementById("visitor-count");
    var line = document.getElementById("visitor-count-line");
    if (!value || !line) return;
    value.textContent = text;
    line.setAttribute("aria-busy", "false");
    if (unavailable) {
      line.classList.add("visitor-count--unavailable");
      value.setAttribute("title", "The visitor count is not available right now");
    }
  }

  function isCount(body, path) {
    return body !== null && typeof body === "object" &&
      typeof body.count === "number" && Number.isSafeInteger(body.count) && body.count >= 0 &&
      body.path === path;
  }

  // The page's path as the API counts it (openapi.yaml, parameter `path`):
  // decoded ("/blog/héllo", not "/blog/h%C3%A9llo") and in Unicode NFC, so
  // one page has one counter however it is linked or typed.
  function pagePath() {
    var raw = window.location.pathname || "/";
    var path;
    try {
      path = decodeURIComponent(raw);
    } catch (e) {
      path = raw;
    }
    return typeof path.normalize === "function" ? path.normalize("NFC") : path;
  }

  // A "." or ".." segment: the API refuses these rather than resolve them.
  // The browser has already resolved the URL's own; one can only appear
  // here from an encoded slash ("/a%2F..%2Fb"), and such a page is not
  // counted.
  function hasDotSegment(path) {
    return path.split("/").some(function (segment) {
      return segment === "." || segment === "..";
    });
  }

  function run() {
    var api = script && script.dataset ? script.dataset.api : "";
    if (!api) {
      settle(FALLBACK, true);
      return;
    }
    var timeoutMs = Number(script.dataset.timeoutMs) > 0 ? Number(script.dataset.timeoutMs) : 3000;
    var path = pagePath();
    if (hasDotSegment(path)) {
      settle(FALLBACK, true);
      return;
    }
    var url = api.replace(/\/+$/, "") + "/visits?path=" + encodeURIComponent(path);
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = setTimeout(function () {
      if (controller) controller.abort();
      settle(FALLBACK, true);
    }, timeoutMs);

    fetch(url, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
      signal: controller ? controller.signal : undefined
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (body) {
        clearTimeout(timer);
        if (!isCount(body, path)) throw new Error("unexpected body");
        settle(body.count.toLocaleString("en-US"), false);
      })
      .catch(function () {
        clearTimeout(timer);
        settle(FALLBACK, true);
      });
  }

  try {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", run);
    } else {
      run();
    }
  } catch (e) {
    settle(FALLBACK, true);
  }
})();

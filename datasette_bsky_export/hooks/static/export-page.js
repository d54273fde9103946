/* The export page: the browser downloads natively (the form's target is a hidden
   iframe), while this script polls the download's progress entry, shows posts of
   total, posts/s and time left, and can cancel it. Without JavaScript the form
   still works: the page redirects to the download. */
(function () {
  "use strict";
  var POLL_MS = 500;
  var GRACE_MS = 15000; // 404s while the download has not registered yet
  var TRIES = 3; // failures of another kind (no answer, 5xx) before giving up
  var form = document.getElementById("bsky-export-form");
  if (!form || !window.fetch) {
    return;
  }
  var $ = function (id) { return document.getElementById(id); };
  var status = $("bsky-export-status");
  var bar = $("bsky-export-bar");
  var title = $("bsky-export-status-title");
  var numbers = $("bsky-export-numbers");
  var outcome = $("bsky-export-outcome");
  var cancelButton = $("bsky-export-cancel");
  var cancelForm = $("bsky-export-cancel-form");
  var submit = $("bsky-export-submit");
  var idInput = $("bsky-export-progress-id");
  var frame = $("bsky-export-frame");
  var media = $("bsky-export-media");
  var zip = $("bsky-export-zip");
  var file = $("bsky-export-file");
  var mediaCount = $("bsky-export-media-count");
  var EMPTY = form.getAttribute("data-no-posts"); // messages.NO_POSTS, from the page
  var run = null;

  function fmt(n) { return Math.round(n).toLocaleString("en-US"); }

  // Decimal units, as browsers' download lists and the CLI (terminal.size) show sizes.
  function size(bytes) {
    var units = ["bytes", "KB", "MB", "GB"];
    var i = 0;
    while (bytes >= 1000 && i < units.length - 1) { bytes /= 1000; i++; }
    return (i ? bytes.toFixed(1) : fmt(bytes)) + " " + units[i];
  }

  function duration(seconds) {
    if (seconds < 60) { return Math.max(1, Math.round(seconds)) + " s"; }
    var m = Math.floor(seconds / 60);
    if (m < 60) { return m + " min " + Math.round(seconds % 60) + " s"; }
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function newId() {
    var bytes = new Uint8Array(18);
    window.crypto.getRandomValues(bytes);
    return btoa(String.fromCharCode.apply(null, bytes)).replace(/\+/g, "-").replace(/\//g, "_");
  }

  function show(state, text, kind) {
    status.setAttribute("data-state", state);
    title.textContent = {
      starting: "Starting the export", running: "Exporting", done: "Export complete",
      failed: "Export failed", cancelled: "Export cancelled", unavailable: "Downloading"
    }[state];
    outcome.textContent = text || "";
    outcome.className = kind ? "message-" + kind : "";
    outcome.hidden = !text;
    var finished = state !== "running" && state !== "starting";
    cancelButton.hidden = finished;
    submit.disabled = !finished;
    if (finished && run) {
      clearTimeout(run.timer);
      run = null;
    }
  }

  function showNumbers(entry) {
    var now = Date.now();
    var total = entry.total || 0;
    bar.max = Math.max(total, 1);
    bar.value = total ? Math.min(entry.posts, total) : (entry.state === "done" ? 1 : 0);
    var text = fmt(entry.posts) + " of " + fmt(total) + " posts · " + size(entry.bytes);
    if (entry.state === "running" && run) {
      if (run.first === null) {
        run.first = {t: now, posts: entry.posts};
      } else if (now > run.first.t && entry.posts > run.first.posts) {
        var rate = (entry.posts - run.first.posts) / ((now - run.first.t) / 1000);
        text += " · " + fmt(rate) + " posts/s";
        if (total > entry.posts) {
          text += " · about " + duration((total - entry.posts) / rate) + " left";
        }
      }
    }
    numbers.textContent = text;
  }

  function finish(entry) {
    if (entry.state === "done") {
      if (entry.total === 0) {
        show("done", EMPTY, "warning");
      } else {
        show("done", "All " + fmt(entry.posts) + " posts were sent: your browser's " +
             "downloads hold the file.", "info");
      }
    } else if (entry.state === "failed") {
      show("failed", entry.error || "The export failed.", "error");
    } else if (entry.state === "cancelled") {
      show("cancelled", "Cancelled after " + fmt(entry.posts) + " of " + fmt(entry.total) +
           " posts. The download was cut off: your browser marks it as failed; " +
           "any partial file is incomplete.", "warning");
    }
  }

  function poll(current) {
    fetch(form.getAttribute("data-progress-url") + current.id + ".json",
          {credentials: "same-origin", cache: "no-store"})
      .then(function (response) {
        if (!response.ok) { throw response.status; }
        return response.json();
      })
      .then(function (entry) {
        if (run !== current) { return; }
        current.seen = true;
        showNumbers(entry);
        if (entry.state === "running") {
          show("running");
          current.timer = setTimeout(function () { poll(current); }, POLL_MS);
        } else {
          finish(entry);
        }
      })
      .catch(function (error) {
        if (run !== current) { return; }
        current.failures = error === 404 ? 0 : current.failures + 1;
        if (!current.seen && Date.now() - current.started < GRACE_MS &&
            current.failures < TRIES) {
          current.timer = setTimeout(function () { poll(current); }, POLL_MS);
          return;
        }
        show("unavailable", "Live progress is unavailable from this server. The download " +
             "goes on: your browser's downloads show how far it is.", "info");
      });
  }

  form.addEventListener("submit", function () {
    var id = newId();
    idInput.value = id;
    idInput.disabled = false;
    form.target = frame.name;
    setTimeout(function () { idInput.disabled = true; }, 0);
    run = {id: id, started: Date.now(), seen: false, first: null, timer: null, failures: 0};
    cancelForm.action = form.getAttribute("data-progress-url") + id + "/cancel";
    status.hidden = false;
    numbers.textContent = "";
    bar.removeAttribute("value"); // indeterminate until the first answer
    show("starting");
    run.timer = setTimeout(function (current) { poll(current); }, POLL_MS, run);
  });

  // A page instead of a file in the frame: the download was refused before it started.
  frame.addEventListener("load", function () {
    var doc = frame.contentDocument;
    var message = doc && doc.querySelector(".message-error");
    if (run && message) {
      show("failed", message.textContent.trim(), "error");
    }
  });

  cancelButton.addEventListener("click", function () {
    cancelButton.disabled = true;
    fetch(cancelForm.action, {
      method: "POST", credentials: "same-origin",
      headers: {"content-type": "application/x-www-form-urlencoded"},
      body: new URLSearchParams(new FormData(cancelForm)).toString()
    }).finally(function () { cancelButton.disabled = false; });
  });

  // The selection: the account, the dates, and the table page's filters.
  function selectionQuery() {
    var query = new URLSearchParams();
    ["did", "start_date", "end_date"].forEach(function (name) {
      var field = form.elements[name];
      if (field && field.value) { query.set(name, field.value); }
    });
    form.querySelectorAll("input[data-selection]").forEach(function (field) {
      query.append(field.name, field.value);
    });
    return query.toString();
  }

  // The selection in words and how many posts it holds, as the form changes.
  var matching = $("bsky-export-matching");
  function refreshPostCount() {
    var asked = selectionQuery();
    matching.setAttribute("data-query", asked);
    fetch(form.getAttribute("data-count-url") + "?" + asked,
          {credentials: "same-origin", cache: "no-store"})
      .then(function (response) { return response.json(); })
      .then(function (counted) {
        if (matching.getAttribute("data-query") !== asked) { return; }
        var words = counted.selection;
        matching.textContent = counted.error ||
          (words.charAt(0).toUpperCase() + words.slice(1) + ": " + counted.message + ".");
      })
      .catch(function () { matching.textContent = ""; });
  }
  ["bsky-export-did", "bsky-export-start", "bsky-export-end"].forEach(function (id) {
    var field = $(id);
    if (field) { field.addEventListener("change", refreshPostCount); }
  });
  refreshPostCount();

  // Media files go only into the ZIP: choosing them chooses the ZIP. Their count
  // (a walk of the selection) is asked for once the ZIP is chosen.
  function refreshMediaCount() {
    if (!media || media.disabled || !mediaCount || !zip.checked) { return; }
    var asked = selectionQuery();
    mediaCount.setAttribute("data-query", asked);
    mediaCount.textContent = "Counting the media files…";
    fetch(form.getAttribute("data-media-url") + "?" + asked,
          {credentials: "same-origin", cache: "no-store"})
      .then(function (response) { return response.json(); })
      .then(function (counted) {
        if (mediaCount.getAttribute("data-query") === asked) {
          mediaCount.textContent = counted.message || counted.error;
        }
      })
      .catch(function () { mediaCount.textContent = ""; });
  }
  if (media && !media.disabled) {
    media.addEventListener("change", function () {
      if (media.checked && !zip.checked) {
        zip.checked = true;
        refreshMediaCount();
      }
    });
    file.addEventListener("change", function () {
      if (file.checked) {
        media.checked = false;
        mediaCount.textContent = "";
      }
    });
    zip.addEventListener("change", refreshMediaCount);
    ["bsky-export-did", "bsky-export-start", "bsky-export-end"].forEach(function (id) {
      var field = $(id);
      if (field) { field.addEventListener("change", refreshMediaCount); }
    });
    refreshMediaCount();
  }
})();

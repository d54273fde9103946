/* The export page: the browser downloads natively (the form's target is a hidden
   iframe), while this script polls the download's progress entry, shows posts of
   total, posts/s and time left, and can cancel it. Before it sends the form it
   checks the dates and the account, as the server would: a mistake is shown
   beside its field and nothing is sent. Without JavaScript the form still works:
   the page redirects to the download, or shows the server's word on a mistake
   beside its field. */
(function () {
  "use strict";
  var POLL_MS = 500;
  var GRACE_MS = 15000; // 404s while the download has not registered yet
  var TRIES = 3; // failures of another kind (no answer, 5xx) before giving up
  var form = document.getElementById("bsky-export-form");
  if (!form || !window.fetch || window.frameElement) {
    return; // in the page's own hidden frame (a refused form): the page reads it
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
  var FIELDS = {did: $("bsky-export-did"), start_date: $("bsky-export-start"),
                end_date: $("bsky-export-end")};
  var DATE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;
  var run = null;
  form.noValidate = true; // the checks below say what is wrong, beside the field

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

  // A message of messages.py (from the page) with its %s filled in order.
  function fill(template) {
    var values = Array.prototype.slice.call(arguments, 1);
    return template.replace(/%s/g, function () { return values.shift(); });
  }

  // What engine.parse_date says of a date field's value, or null. A date the
  // browser's date field cannot read (02/30/2024, or half typed) has no value:
  // it would be sent as no date at all.
  function dateMistake(input, name) {
    var value = input.value;
    if (input.validity && input.validity.badInput) {
      return name + " is not a complete, real date: complete it or clear it";
    }
    if (!value) { return null; }
    if (!DATE.test(value)) { // a browser without date fields: text
      var shown = "'" + value + "'";
      if (shown.length > 60) { shown = shown.slice(0, 57) + "..."; }
      return fill(form.getAttribute("data-not-a-date"), name, shown);
    }
    var day = new Date(value + "T00:00:00Z");
    if (value < "0001" || isNaN(day) || day.toISOString().slice(0, 10) !== value) {
      return fill(form.getAttribute("data-not-a-real-date"), name, value);
    }
    return null;
  }

  // The form's mistakes by field name: the dates, and an account the page
  // flagged (data-error: one without posts in the archive, or not the actor's).
  function mistakes() {
    var found = {};
    var did = FIELDS.did;
    var option = did && did.options[did.selectedIndex];
    if (option && option.getAttribute("data-error")) {
      found.did = option.getAttribute("data-error");
    }
    found.start_date = dateMistake(FIELDS.start_date, "start date");
    found.end_date = dateMistake(FIELDS.end_date, "end date");
    var start = FIELDS.start_date.value;
    var end = FIELDS.end_date.value;
    if (!found.start_date && !found.end_date && start && end && end < start) {
      found.end_date = fill(form.getAttribute("data-end-before-start"), end, start);
    }
    return found;
  }

  // Each field's mistake beside it (or none); the first field with one, or null.
  function showMistakes(found) {
    var first = null;
    Object.keys(FIELDS).forEach(function (name) {
      var field = FIELDS[name];
      var note = field && $(field.id + "-error");
      if (!note) { return; }
      var text = found[name] || "";
      note.textContent = text;
      note.hidden = !text;
      if (text) {
        field.setAttribute("aria-invalid", "true");
        field.setAttribute("aria-describedby", note.id);
        first = first || field;
      } else {
        field.removeAttribute("aria-invalid");
        field.removeAttribute("aria-describedby");
      }
    });
    return first;
  }

  function newId() {
    var bytes = new Uint8Array(18);
    window.crypto.getRandomValues(bytes);
    return btoa(String.fromCharCode.apply(null, bytes)).replace(/\+/g, "-").replace(/\//g, "_");
  }

  function show(state, text, kind) {
    var changed = status.getAttribute("data-state") !== state;
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
    if (finished && state !== "unavailable" && !bar.hasAttribute("value")) {
      bar.value = 0; // failed before any progress: the bar stops
    }
    if (finished && run) {
      clearTimeout(run.timer);
      run = null;
    }
    if (changed) { // started, running, or over: the status (and Cancel) in view
      status.scrollIntoView({block: "nearest"});
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

  form.addEventListener("submit", function (event) {
    var first = showMistakes(mistakes());
    if (first) {
      event.preventDefault();
      first.focus();
      return;
    }
    var id = newId();
    idInput.value = id;
    idInput.disabled = false;
    form.target = frame.name;
    setTimeout(function () { idInput.disabled = true; }, 0);
    run = {id: id, started: Date.now(), seen: false, first: null, timer: null, failures: 0};
    cancelForm.action = form.getAttribute("data-progress-url") + id + "/cancel";
    status.hidden = false;
    status.removeAttribute("data-state");
    numbers.textContent = "";
    bar.removeAttribute("value"); // indeterminate until the first answer
    show("starting");
    run.timer = setTimeout(function (current) { poll(current); }, POLL_MS, run);
  });

  // A page instead of a file in the frame: the download was refused before it
  // started. This page again (a mistake in the form the server found): each
  // mistake beside its field here. Else the refusal's message.
  frame.addEventListener("load", function () {
    var doc = frame.contentDocument;
    if (!run || !doc) { return; }
    var found = {};
    var any = false;
    Object.keys(FIELDS).forEach(function (name) {
      var note = FIELDS[name] && doc.getElementById(FIELDS[name].id + "-error");
      if (note && !note.hidden) {
        found[name] = note.textContent;
        any = true;
      }
    });
    var message = doc.querySelector(".message-error");
    if (any) {
      clearTimeout(run.timer);
      run = null;
      status.hidden = true;
      submit.disabled = false;
      showMistakes(found).focus();
    } else if (message) {
      show("failed", message.textContent.trim(), "error");
    }
  });

  // A corrected field: its mistake goes (the others are checked again too).
  form.addEventListener("change", function () {
    if (form.querySelector("[aria-invalid=true]")) { showMistakes(mistakes()); }
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
        // A mistake in the form is shown beside its field (showMistakes), not here.
        matching.textContent = counted.error ? "" :
          words.charAt(0).toUpperCase() + words.slice(1) + ": " + counted.message + ".";
        if (!status.hidden) { // the count came after a download started: keep its status in view
          status.scrollIntoView({block: "nearest"});
        }
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

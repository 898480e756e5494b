import Base
import Study
/// The participant page: one HTML document, one stylesheet and one script, all served by the
/// app itself (no build step, no CDN). The script asks the JSON API for the current image, shows
/// it enlarged with nearest-neighbour scaling, and sends the answer chosen with a button or a key
/// 0-9; everything it needs to resume lives on the server.
enum Page {
  /// The start of every page up to its heading: the app's stylesheet and, for the participant
  /// page, its script.
  static func head(title: String, script: Bool = false) -> String {
    """
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>\(title)</title>
    <link rel="stylesheet" href="/app.css">\(script ? "\n<script src=\"/app.js\" defer></script>" : "")
    </head>
    <body>
    <main>
    <h1>\(title)</h1>
    """
  }

  /// A page with one message and a link to the study (for people who follow a bad link).
  static func message(title: String, text: String) -> String {
    head(title: title) + """

      <p>\(text)</p>
      <p><a href="/">Go to the study</a></p>
      </main>
      </body>
      </html>

      """
  }

  /// The host's progress page: participants started and finished, answers per fraction, the last
  /// answer's time. Only numbers and fixed text: nothing from participants is shown.
  static func progress(_ export: StudyExport, fractions: [Double]) -> String {
    let started = export.participants.count
    let finished = export.participants.filter { $0.finishedAt != nil }.count
    let answers = export.participants.flatMap(\.answers)
    let last = answers.map(\.answeredAt).max() ?? "none yet"
    let rows = fractions.map { f -> String in
      let here = answers.filter { $0.fraction == f }
      let accuracy =
        here.isEmpty ? "-" : String(format: "%.1f%%", 100 * Double(here.filter(\.correct).count) / Double(here.count))
      return "<tr><td>\(fmt(f * 100, digits: 0))%</td><td>\(here.count)</td><td>\(accuracy)</td></tr>"
    }
    return head(title: "Study progress") + """

      <p id="counts">\(started) participant(s) started, \(finished) finished all \(export.images) images; \(answers.count) answer(s); last answer \(last).</p>
      <table><thead><tr><th>pixels kept</th><th>answers</th><th>accuracy</th></tr></thead><tbody>
      \(rows.joined(separator: "\n"))
      </tbody></table>
      <p>Exports: answers.csv and answers.json under /admin/ (with the admin token).</p>
      </main></body></html>

      """
  }

  static func escapeHTML(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }

  /// "three" for 3 (one to twelve in words, as in running text), digits beyond.
  static func words(_ n: Int) -> String {
    let names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
    return n >= 0 && n < names.count ? names[n] : String(n)
  }

  /// The participant page; the instructions follow the study (its number of parts and classes;
  /// number keys for the first ten classes).
  /// `consent`: the host's information and consent text (HTML from `STUDY/consent.html`), shown
  /// before the instructions, Start then reads "I agree, start"; `completionCode`: shown when a
  /// participant is done (for crowdsourcing platforms).
  static func html(title: String, parts: Int, classes: Int, consent: String? = nil, completionCode: String? = nil) -> String {
    let keys =
      classes <= 1
      ? ""
      : classes <= 10 ? " or pressing its number key (0-\(classes - 1))" : " or, for the first ten, pressing its number key (0-9)"
    let partsText =
      parts <= 1
      ? "The photos come in one part."
      : "The photos come in \(words(parts)) parts; each part shows more of every photo than the one before."
    return head(title: title, script: true) + """

      <section id="intro" hidden>
        \(consent.map { "<div id=\"consent\">\($0)</div>" } ?? "")
        <p>You will see small photos of which most pixels have been replaced by grey. Each photo shows one
        of \(words(classes)) kinds of object. For each photo, choose the kind you think it shows, by clicking a
        button\(keys). Guess if you are not sure: there is no time limit, and every answer is final.</p>
        <p>\(partsText) You can close the page at any time and come back later to continue where you
        stopped.</p>
        <p>No personal data is asked for or stored: you get a random participant code.</p>
        <button id="start" type="button">\(consent == nil ? "Start" : "I agree, start")</button>
        <form id="resume-form">
          <label>Returning? Your participant code: <input id="resume-code" autocomplete="off" spellcheck="false" size="34"></label>
          <button type="submit">Continue</button>
        </form>
      </section>
      <section id="task" hidden>
        <p id="progress" aria-live="polite"></p>
        <progress id="bar" max="1" value="0"></progress>
        <figure><img id="image" alt="photo to classify" width="384" height="384"></figure>
        <div id="choices" role="group" aria-label="classes"></div>
      </section>
      <section id="questions" hidden>
        <p>Before the photos, a few questions. Answer what you like; questions marked * need an answer.</p>
        <form id="questions-form"></form>
      </section>
      <section id="pause" hidden>
        <p id="pause-text"></p>
        <button id="continue" type="button">Continue</button>
      </section>
      <section id="done" hidden>
        <p>Thank you: you have answered every photo. You can close this page.</p>
        \(completionCode.map { "<p>Your completion code: <strong id=\"completion-code\">\(escapeHTML($0))</strong></p>" } ?? "")
      </section>
      <p id="message" role="alert"></p>
      <footer id="code" hidden></footer>
      </main>
      <noscript>This study needs JavaScript.</noscript>
      </body>
      </html>

      """
  }

  static let style = """
    body { font-family: system-ui, sans-serif; margin: 0; background: #f4f4f4; color: #111; }
    main { max-width: 52rem; margin: 0 auto; padding: 1rem; }
    h1 { font-size: 1.3rem; }
    figure { margin: 1rem 0; }
    #image { width: 384px; max-width: 100%; height: auto; aspect-ratio: 1; image-rendering: crisp-edges; image-rendering: pixelated; background: #888; display: block; }
    #choices { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: .4rem; max-width: 40rem; }
    #choices button, #start { font-size: 1rem; padding: .6rem .4rem; cursor: pointer; overflow-wrap: anywhere; }
    @media (max-width: 34rem) { #choices { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
    #choices button:disabled { cursor: wait; }
    kbd { font-weight: bold; margin-right: .3rem; }
    progress { width: 384px; max-width: 100%; }
    #message { color: #a00; min-height: 1.2rem; }
    #resume-form { margin-top: 1.5rem; font-size: .9rem; }
    .question { display: block; margin: .6rem 0; }
    .question input, .question select { max-width: 100%; }
    #resume-form input { max-width: 100%; }
    table { border-collapse: collapse; } td, th { padding: .2rem .8rem; text-align: right; }
    footer { margin-top: 2rem; font-size: .8rem; color: #555; }

    """

  static let script = #"""
    "use strict";
    const $ = (id) => document.getElementById(id);
    let state = null;
    let shownAt = 0;
    let busy = false;
    let part = -1;

    async function api(method, path, body) {
      const init = { method, credentials: "same-origin", headers: {} };
      if (body !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      const response = await fetch(path, init);
      let data = null;
      try { data = await response.json(); } catch (e) { data = null; }
      if (!response.ok) {
        const error = new Error(data && data.error ? data.error.message : response.statusText);
        error.status = response.status;
        throw error;
      }
      return data;
    }

    function show(section) {
      for (const id of ["intro", "questions", "task", "pause", "done"]) $(id).hidden = id !== section;
    }

    function buildChoices(names) {
      const box = $("choices");
      if (box.childElementCount === names.length) return;
      box.textContent = "";
      names.forEach((name, k) => {
        const b = document.createElement("button");
        b.type = "button";
        b.dataset.answer = String(k);
        const key = document.createElement("kbd");
        key.textContent = String(k);
        b.append(key, document.createTextNode(name));
        b.addEventListener("click", () => answer(k));
        box.append(b);
      });
    }

    function render() {
      $("message").textContent = "";
      document.body.dataset.offline = "0";
      if (!state) { show("intro"); $("start").disabled = false; return; }
      $("code").hidden = false;
      $("code").textContent = "Participant code " + state.participant +
        " (to continue on another device, open /resume/" + state.participant + ")";
      if (state.done) { show("done"); document.body.dataset.done = "1"; return; }
      if (state.questionsPending) { showQuestions(); return; }
      // Between parts (not on a reload), a pause: the next part shows more of every photo.
      if (part >= 0 && state.part > part) {
        $("pause-text").textContent = part === 0
          ? "Practice done. The study starts now: from here every answer counts."
          : "Part " + part + " of " + state.parts + " done. The next part shows more " +
            "of every photo; the photos may be ones you have seen. Take a break if you like.";
        part = state.part;
        show("pause");
        return;
      }
      part = state.part;
      show("task");
      buildChoices(state.classNames);
      $("progress").textContent = (state.part === 0 ? "Practice" : "Part " + state.part + " of " + state.parts) + ": photo " +
        (state.answered + 1) + " of " + state.total + " (" + (state.total - state.answered) + " left)";
      $("bar").max = state.total;
      $("bar").value = state.answered;
      const img = $("image");
      img.dataset.image = state.image;
      setBusy(true);
      img.onload = () => { shownAt = performance.now(); setBusy(false); };
      img.onerror = () => { $("message").textContent = "The photo could not be loaded; reload the page."; };
      img.src = "/images/" + encodeURIComponent(state.image) + ".png";
    }

    function setBusy(value) {
      busy = value;
      for (const b of $("choices").querySelectorAll("button")) b.disabled = value;
      document.body.dataset.ready = value ? "0" : "1";
    }

    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

    // The host's questions (questions.json), built as a form; sent once, before the photos.
    async function showQuestions() {
      show("questions");
      const form = $("questions-form");
      if (form.childElementCount > 0) return;
      const { questions } = await api("GET", "/api/questions");
      for (const q of questions) {
        const label = document.createElement("label");
        label.className = "question";
        label.append(document.createTextNode(q.label + (q.required ? " *" : "") + " "));
        let input;
        if (q.type === "choice") {
          input = document.createElement("select");
          input.append(new Option("", ""));
          for (const o of q.options) input.append(new Option(o, o));
        } else {
          input = document.createElement("input");
          input.type = q.type === "number" ? "number" : "text";
          if (q.type === "number") { if (q.min !== undefined) input.min = q.min; if (q.max !== undefined) input.max = q.max; }
          else input.maxLength = q.maxLength || 200;
        }
        input.name = q.id;
        input.required = !!q.required;
        label.append(input);
        form.append(label);
      }
      const submit = document.createElement("button");
      submit.type = "submit";
      submit.textContent = "Continue";
      form.append(submit);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const responses = {};
        for (const el of form.elements) if (el.name && el.value !== "") responses[el.name] = String(el.value);
        try { state = await api("POST", "/api/responses", { responses }); render(); }
        catch (error) { $("message").textContent = error.message; }
      });
    }

    // Sends the answer until the server has it. Without a reply (network down, server
    // restarting) the same answer is sent again, with growing pauses, while the photo stays on
    // the screen; a reply that refuses it (another tab answered first, say) re-syncs with the
    // server's state. The page never falls back to the start while it knows the participant.
    async function answer(k) {
      if (busy || !state || state.done || $("task").hidden || k >= state.classNames.length) return;
      setBusy(true);
      const body = { image: state.image, answer: k, milliseconds: Math.max(0, Math.round(performance.now() - shownAt)) };
      for (let attempt = 0; ; attempt++) {
        try {
          state = await api("POST", "/api/answers", body);
          render();
          return;
        } catch (error) {
          if (error.status) {
            try { state = await api("GET", "/api/state"); } catch (e) { /* keep the state we have */ }
            render();
            if (error.status !== 409) $("message").textContent = error.message;
            return;
          }
          document.body.dataset.offline = "1";
          $("message").textContent = "The connection to the study was lost; trying again (your answer is kept)...";
          await sleep(Math.min(500 * 2 ** attempt, 8000));
        }
      }
    }

    async function start() {
      $("start").disabled = true;
      try {
        state = await api("POST", "/api/participants");
        render();
      } catch (error) {
        $("message").textContent = error.message;
        $("start").disabled = false;
      }
    }

    // A held key repeats: only a fresh press answers, and not within 250 ms of a photo appearing
    // (a key still down from the last photo).
    document.addEventListener("keydown", (event) => {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      if (/^[0-9]$/.test(event.key)) {
        event.preventDefault();
        if (event.repeat || performance.now() - shownAt < 250) return;
        answer(Number(event.key));
      }
      else if (event.key === "Enter" && !$("intro").hidden) { event.preventDefault(); start(); }
    });

    window.addEventListener("DOMContentLoaded", async () => {
      $("start").addEventListener("click", start);
      $("continue").addEventListener("click", render);
      $("resume-form").addEventListener("submit", (event) => {
        event.preventDefault();
        const code = $("resume-code").value.trim();
        if (code) window.location.href = "/resume/" + encodeURIComponent(code);
      });
      try { state = await api("GET", "/api/state"); } catch (error) { state = null; }
      render();
    });

    """#
}

// kofu kiosk: PIN pad, copies stepper, idle timeout (warn, then cancel), the spoken reminder.
(function () {
  "use strict";
  var form = document.getElementById("f");
  var body = document.body;
  var pin = document.getElementById("pin");
  document.querySelectorAll("[data-digit]").forEach(function (b) {
    b.addEventListener("click", function () {
      if (pin.value.length < 4) { pin.value += b.dataset.digit; }
      pin.focus();
    });
  });
  document.querySelectorAll("[data-clear]").forEach(function (b) {
    b.addEventListener("click", function () { pin.value = ""; pin.focus(); });
  });
  var copies = document.getElementById("copies");
  document.querySelectorAll("[data-step]").forEach(function (b) {
    b.addEventListener("click", function () {
      var v = (parseInt(copies.value, 10) || 1) + parseInt(b.dataset.step, 10);
      copies.value = Math.max(1, Math.min(parseInt(copies.max, 10) || 1, v));
    });
  });
  function submit(action) {
    var input = document.createElement("input");
    input.type = "hidden"; input.name = "action"; input.value = action;
    form.appendChild(input); form.submit();
  }
  [["pin", "pin"], ["copies", "copies"]].forEach(function (pair) {
    var el = document.getElementById(pair[0]);
    if (el) {
      el.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter") { ev.preventDefault(); submit(pair[1]); }
      });
    }
  });
  // idle timeout: warn at (idle - warn) seconds, cancel at idle seconds
  var idle = parseFloat(body.dataset.idle), warn = parseFloat(body.dataset.warn);
  var dialog = document.getElementById("idle");
  var warnTimer = null, endTimer = null;
  function arm() {
    if (body.dataset.idleActive !== "yes") { return; }
    clearTimeout(warnTimer); clearTimeout(endTimer);
    warnTimer = setTimeout(function () { if (!dialog.open) { dialog.showModal(); } }, Math.max(0, idle - warn) * 1000);
    endTimer = setTimeout(function () { submit("timeout"); }, idle * 1000);
  }
  ["click", "keydown", "touchstart", "input"].forEach(function (ev) {
    document.addEventListener(ev, function () { if (!dialog.open) { arm(); } }, true);
  });
  arm();
  function speak(el) {
    try {
      var u = new SpeechSynthesisUtterance(el.dataset.speech);
      u.lang = el.dataset.lang; u.rate = 0.9;
      window.speechSynthesis.cancel(); window.speechSynthesis.speak(u);
    } catch (e) { /* no speech synthesis: the text stays on the screen */ }
  }
  var once = document.getElementById("say-once");
  if (once) { speak(once); }
  // the reminder repeats until the stop button is pressed
  var reminder = document.getElementById("reminder");
  if (reminder) {
    var say = function () {
      reminder.dataset.spoken = String(parseInt(reminder.dataset.spoken, 10) + 1);
      speak(reminder);
    };
    say();
    setInterval(say, (parseFloat(reminder.dataset.repeat) || 6) * 1000);
  }
})();

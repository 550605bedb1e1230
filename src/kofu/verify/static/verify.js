// kofu verification page: scan the certificate's QR code with the camera where the browser offers
// BarcodeDetector; otherwise the text box (paste the payload) is all there is. Nothing leaves the page
// except the form submission to this server.
(function () {
  "use strict";
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return;
  }
  var camera = document.getElementById("camera");
  var button = document.getElementById("scan");
  var video = document.getElementById("video");
  var form = document.getElementById("qr-form");
  var payload = document.getElementById("payload");
  camera.hidden = false;
  button.addEventListener("click", async function () {
    var detector;
    try {
      detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    } catch (e) {
      camera.hidden = true;
      return;
    }
    var stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    var stop = function () {
      stream.getTracks().forEach(function (t) { t.stop(); });
      video.hidden = true;
    };
    var tick = async function () {
      try {
        var codes = await detector.detect(video);
        for (var i = 0; i < codes.length; i++) {
          var text = codes[i].rawValue || "";
          if (text.indexOf("KOFU1.") === 0) {
            stop();
            payload.value = text;
            form.submit();
            return;
          }
        }
      } catch (e) { /* keep trying */ }
      window.requestAnimationFrame(tick);
    };
    tick();
  });
})();

// Sends a custom "Signup" event when the demo form is submitted.
document.getElementById("signup").addEventListener("submit", function () {
  if (window.waymark) window.waymark("event", "Signup", { plan: "demo" });
});

// The pricing form: locations from the API, the price and who answered, then feedback.
"use strict";

const FIELDS = ["location", "total_sqft", "bhk", "bath"];
let lastPrediction = null;

async function loadLocations() {
  const select = document.getElementById("location");
  try {
    const { locations } = await callApi("GET", "/v1/locations");
    select.replaceChildren(new Option("choose a location…", ""));
    for (const name of locations) select.add(new Option(name, name));
  } catch (error) {
    select.replaceChildren(new Option("no locations", ""));
    show("predict-error", `Locations could not be loaded: ${error.message}`);
  }
}

function clearErrors() {
  for (const node of document.querySelectorAll(".field-error, .form-error")) node.textContent = "";
}

// Show the API's message next to the field it names, or under the form.
function showError(error, fallbackId) {
  const target = error.field && document.getElementById(`error-${error.field}`);
  if (target) target.textContent = error.message;
  else show(fallbackId, error.message);
}

// Numbers go as numbers (the API refuses "2"); an empty box is left out so the API says
// which field is required.
function formBody() {
  const body = {};
  const location = document.getElementById("location").value;
  if (location) body.location = location;
  for (const name of ["total_sqft", "bhk", "bath"]) {
    const raw = document.getElementById(name).value.trim();
    if (raw !== "") body[name] = Number(raw);
  }
  return body;
}

async function predict(event) {
  event.preventDefault();
  clearErrors();
  const button = document.getElementById("predict-button");
  button.disabled = true;
  try {
    const answer = await callApi("POST", "/v1/predict", formBody());
    lastPrediction = answer;
    const price = document.getElementById("price");
    price.textContent = answer.price_lakhs.toFixed(2);
    price.dataset.price = String(answer.price_lakhs);
    show("variant", answer.variant);
    show("model-version", answer.model_version);
    show("request-id", answer.request_id);
    show("feedback-status", "");
    document.getElementById("result").hidden = false;
  } catch (error) {
    showError(error, "predict-error");
  } finally {
    button.disabled = false;
  }
}

// "Accurate" means the actual price is the predicted one; "too high" and "too low" need
// the actual price, since the API records a price, not a verdict.
function actualPriceFor(verdict) {
  if (verdict === "accurate") return lastPrediction.price_lakhs;
  const raw = document.getElementById("actual_price_lakhs").value.trim();
  return raw === "" ? null : Number(raw);
}

async function sendFeedback(verdict) {
  clearErrors();
  if (!lastPrediction) return;
  const actual = actualPriceFor(verdict);
  if (actual === null) {
    show("error-actual_price_lakhs", "Enter the actual price in lakhs, then send it.");
    return;
  }
  const body = { request_id: lastPrediction.request_id, actual_price_lakhs: actual };
  if (verdict !== "actual_price") body.note = verdict;
  try {
    await callApi("POST", "/v1/feedback", body);
    show("feedback-status", `Thank you: recorded ${actual.toFixed(2)} lakhs (${verdict}).`);
  } catch (error) {
    showError(error, "feedback-status");
  }
}

document.getElementById("predict-form").addEventListener("submit", predict);
for (const button of document.querySelectorAll("[data-verdict]")) {
  button.addEventListener("click", () => sendFeedback(button.dataset.verdict));
}
document.getElementById("feedback-send").addEventListener("click", () => sendFeedback("actual_price"));
loadLocations();

// Talking to the gateway's JSON API; its errors are {"error": {code, message, field, allowed}}.
"use strict";

class ApiError extends Error {
  constructor(status, detail) {
    super(detail.message || `HTTP ${status}`);
    this.status = status;
    this.field = detail.field || null;
  }
}

async function callApi(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, { message: `the gateway did not answer (${error.message})` });
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = (data && data.error) || { message: `HTTP ${response.status}` };
    throw new ApiError(response.status, detail);
  }
  return data;
}

function show(id, text) {
  document.getElementById(id).textContent = text;
}

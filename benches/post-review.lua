-- wrk script of the server benchmarks: POST the AdmissionReview fixture to /validate (run from
-- the repository's root).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("integration/fixtures/admission/create-allowed.json", "r")
wrk.body = f:read("*a")
f:close()

-- Argo CD health of a vertexops resource (TuningJob and TunedModel share this check).
--
-- It reads only what the operator writes for every tool alike: status.observedGeneration and the
-- Ready, Reconciling, Stalled and Synced conditions. It uses no library (string, math, os), so it runs
-- in the most restricted Lua sandbox Argo CD offers.
--   Progressing  no status yet, a spec change the operator has not seen, or Reconciling=True
--   Degraded     Stalled=True: no progress without a change from the user (failed job, invalid spec,
--                missing permission); the message says what to change
--   Healthy      Ready=True: the tuned model is usable
local hs = {}

local function conditionOf(conditionType)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

local function describe(condition, fallback)
  if condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  if condition.reason ~= nil and condition.reason ~= "" then
    return condition.reason
  end
  return fallback
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local stalled = conditionOf("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

local ready = conditionOf("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

local reconciling = conditionOf("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "Reconciling")
  -- A failed call to Google does not stop the job; show it beside the progress so it is not missed.
  local synced = conditionOf("Synced")
  if synced ~= nil and synced.status == "False" then
    hs.message = hs.message .. "; " .. describe(synced, "the last call to Google failed")
  end
  return hs
end

-- Neither ready, nor working, nor stuck: a state between two reconciles. Say what Ready says.
hs.status = "Progressing"
if ready ~= nil then
  hs.message = describe(ready, "Waiting for the resource to become ready")
else
  hs.message = "Waiting for the resource to become ready"
end
return hs

-- smartlead.mock.prng: splitmix64, the seeded generator of the mock and of spec/fixtures/generate.lua.
-- Pure Lua with no other module, so the fixture generator can load it by path alone. The same
-- seed gives the same sequence on every platform (Lua 5.4 integers wrap, as the algorithm wants).

local M = {}

-- prng.new(seed) -> rng with next() (64-bit integer), float() in [0, 1), int(lo, hi),
-- chance(p) and pick(list).
function M.new(seed)
  local state = math.tointeger(seed) or 1
  local rng = {}
  function rng.next()
    state = state + 0x9E3779B97F4A7C15
    local z = state
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    return z ~ (z >> 31)
  end
  function rng.float() return (rng.next() >> 11) * (1.0 / 9007199254740992.0) end
  function rng.int(lo, hi) return lo + (rng.next() >> 1) % (hi - lo + 1) end
  function rng.chance(p) return rng.float() < p end
  function rng.pick(list) return list[rng.int(1, #list)] end
  return rng
end

return M

-- A tiny HTTP responder on 127.0.0.1 for the answers the mock cannot give: an absurd
-- X-RateLimit-Reset, Retry-After: 99999999, a rate limit its headers do not show, large bodies
-- sent in two halves. A Perl program using only perl-base (Essential on Debian), one request per
-- connection (Connection: close), answering every path alike; its log is one line per request.
--
-- responder.start{...} options (all optional):
--   limit=N, per=S        X-RateLimit-Limit/Remaining/Reset for a fixed window of N per S
--                         seconds that starts at its first request (Reset: seconds to go)
--   remaining=R           always this X-RateLimit-Remaining
--   reset=V               always this X-RateLimit-Reset; reset_in=S: a Unix time S seconds ahead;
--                         reset_ms_in=S: the same in milliseconds
--   hidden="5/1,100/3600" windows enforced without a header (per calendar second, minute...):
--                         429 with Retry-After (the seconds to the window's end) and the body
--                         {"error":{...,"retry_after":N}}, no X-RateLimit-* headers
--   always429=1, retry_after=N   every request refused with Retry-After: N
--   body_bytes=N, half_pause=S   a JSON body of N bytes, its second half sent S seconds later
--                         (one process per connection then, so answers overlap)
local proc = require "proc"

local M = {}

local PROGRAM = [=[
use strict;
use warnings;
use IO::Socket::INET;
my ($dir, @args) = @ARGV;
my %o = map { split /=/, $_, 2 } @args;
$SIG{CHLD} = 'IGNORE';
$SIG{PIPE} = 'IGNORE';
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 128, ReuseAddr => 1, Proto => 'tcp')
  or die "responder: cannot listen: $!";
open(my $log, '>>', "$dir/log") or die "responder: log: $!";
$log->autoflush(1);
open(my $pf, '>', "$dir/port.tmp") or die "responder: port: $!";
print $pf $srv->sockport, " $$\n";
close $pf;
rename "$dir/port.tmp", "$dir/port";
my ($adv_start, $adv_count, %hidden) = (0, 0);

sub refuse {
  my ($ra) = @_;
  return (429, ["Retry-After: $ra"],
          '{"error":{"code":"RATE_LIMIT_EXCEEDED","message":"Too many requests.","retry_after":' . $ra . '}}');
}

sub answer {
  my $now = time;
  return refuse($o{retry_after} // 1) if $o{always429};
  my @windows = grep { length } split /,/, ($o{hidden} // '');
  for my $w (@windows) {
    my ($n, $p) = split m{/}, $w;
    my $slot = int($now / $p);
    $hidden{$w} = [$slot, 0] if !$hidden{$w} || $hidden{$w}[0] != $slot;
    return refuse($o{retry_after} // ($p - $now % $p)) if $hidden{$w}[1] >= $n;
  }
  $hidden{$_}[1]++ for @windows;
  my @h;
  if ($o{limit}) {
    my $per = $o{per} // 60;
    ($adv_start, $adv_count) = ($now, 0) if !$adv_start || $now >= $adv_start + $per;
    $adv_count++;
    my $rem = $o{remaining} // ($o{limit} - $adv_count);
    $rem = 0 if $rem < 0;
    my $reset = defined $o{reset_in} ? $now + $o{reset_in}
      : defined $o{reset_ms_in} ? ($now + $o{reset_ms_in}) * 1000 : $o{reset} // ($adv_start + $per - $now);
    push @h, "X-RateLimit-Limit: $o{limit}", "X-RateLimit-Remaining: $rem", "X-RateLimit-Reset: $reset";
  }
  my $body = $o{body_bytes} ? '{"id":1,"pad":"' . ('x' x ($o{body_bytes} - 17)) . '"}' : '{"id":1,"ok":true}';
  return (200, \@h, $body);
}

sub send_all {
  my ($c, $data) = @_;
  while (length $data) {
    my $n = syswrite($c, $data);
    return unless $n;
    substr($data, 0, $n) = '';
  }
}

while (1) {
  my $c = $srv->accept or next;
  my $head = '';
  while (index($head, "\r\n\r\n") < 0) {
    my $n = sysread($c, my $buf, 65536);
    last unless $n;
    $head .= $buf;
  }
  my ($method, $path) = $head =~ /^(\S+) (\S+)/;
  my ($len) = $head =~ /\r\ncontent-length:\s*(\d+)/i;
  my $have = length($head) - index($head, "\r\n\r\n") - 4;
  while (defined $len && $have < $len) {
    my $n = sysread($c, my $buf, 65536);
    last unless $n;
    $have += $n;
  }
  my ($status, $h, $body) = answer();
  (my $shown = $path // '-') =~ s/api_key=[^&]*/api_key=***/;
  print $log join(' ', time, $status, $method // '-', $shown), "\n";
  my $resp = "HTTP/1.1 $status " . ($status == 200 ? 'OK' : 'Too Many Requests') . "\r\n"
    . "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\nConnection: close\r\n"
    . join('', map { "$_\r\n" } @$h) . "\r\n";
  if ($o{half_pause}) {
    my $pid = fork();
    if (defined $pid && $pid == 0) {
      my $half = int(length($body) / 2);
      send_all($c, $resp . substr($body, 0, $half));
      select(undef, undef, undef, $o{half_pause});
      send_all($c, substr($body, $half));
      close $c;
      exit 0;
    }
    close $c;
    next;
  }
  send_all($c, $resp . $body);
  close $c;
}
]=]

local Responder = {}
Responder.__index = Responder

-- responder.start(options) -> responder with :url(), :log(), :count(status), :stop()
function M.start(options)
  local dir = proc.mktemp()
  local script = proc.write(dir .. "/responder.pl", PROGRAM)
  local args = {}
  for k, v in pairs(options or {}) do args[#args + 1] = proc.q(k .. "=" .. tostring(v)) end
  table.sort(args)
  os.execute(("perl %s %s %s </dev/null >%s 2>&1 &"):format(proc.q(script), proc.q(dir), table.concat(args, " "),
    proc.q(dir .. "/out")))
  local line
  for _ = 1, 200 do
    line = proc.read(dir .. "/port")
    if line then break end
    proc.nap(0.025)
  end
  local port, pid = (line or ""):match("^(%d+) (%d+)")
  if not port then
    local out = proc.read(dir .. "/out") or ""
    proc.rmtree(dir)
    error("responder did not start: " .. out, 2)
  end
  return setmetatable({ dir = dir, port = tonumber(port), pid = tonumber(pid) }, Responder)
end

function Responder:url() return ("http://127.0.0.1:%d/api/v1"):format(self.port) end

-- {{at=unix seconds, status=, method=, path=}, ...} in arrival order
function Responder:log()
  local out = {}
  for l in (proc.read(self.dir .. "/log") or ""):gmatch("[^\n]+") do
    local at, status, method, path = l:match("^(%d+) (%d+) (%S+) (%S+)")
    out[#out + 1] = { at = tonumber(at), status = tonumber(status), method = method, path = path }
  end
  return out
end

-- How many requests were answered with this status (all requests when nil).
function Responder:count(status)
  local n = 0
  for _, e in ipairs(self:log()) do n = n + ((status == nil or e.status == status) and 1 or 0) end
  return n
end

function Responder:stop()
  if self.pid then os.execute("kill " .. self.pid .. " 2>/dev/null") end
  self.pid = nil
  proc.rmtree(self.dir)
end

return M

/**
 * The fork server's program (Perl 5, core modules only), run as `perl -e` with an empty
 * environment (no PERL5OPT or PERL5LIB of the user's reaches it).
 *
 * It keeps one child forked ahead: a session and process group of its own, waiting for its
 * command. Its pid is known before the step starts, so runbook journals it (with the step's
 * start, one fsync) before sending the command. The next child is forked while that command
 * runs: the fork is off the steps' path.
 *
 * Frames both ways are a type byte, a 4-byte big-endian length and the payload.
 * From runbook on stdin:
 *   r  run, in the child forked ahead: cwd NUL argc NUL argv… NUL NAME=value… (NUL-separated, as exec takes them)
 * To runbook on stdout:
 *   p  "<pid> <start time>" of the child forked ahead (after it has its own session); the
 *      start time is /proc/PID/stat's, empty where there is no /proc
 *   o  / e  the running command's stdout / stderr bytes, as they come
 *   x  "<wait status> <errno>": the command ended (errno set when chdir or exec failed: nothing
 *      ran); sent once its output is closed, or GRACE seconds after its exit when a process it
 *      left in the background still holds the output open (that output is then closed)
 *   f  forking the next child failed (message): no child is ready; runbook starts commands itself
 *   n  a command was sent with no child ready (message); it did not run
 * End of stdin (runbook gone): the server exits at once; the child forked ahead sees its
 * request pipe close and exits without running anything; a running command is an orphan, as
 * after a kill -9 of runbook (journaled, stopped by `runbook rollback`).
 */
export const FORK_SERVER_SCRIPT = String.raw`
use strict; use warnings; use POSIX (); use Time::HiRes ();
my $GRACE = 0.25;
$SIG{PIPE} = 'IGNORE';
my $chld = 0; $SIG{CHLD} = sub { $chld = 1 };
my $in = '';
my (%c, %next);
sub put { my $b = pack('aN', $_[0], length $_[1]) . $_[1];
  while (length $b) { my $w = syswrite(STDOUT, $b); if (!defined $w) { next if $!{EINTR}; exit 0 } substr($b, 0, $w) = '' } }
sub readall { my ($fh, $n) = @_; my $b = '';
  while (length $b < $n) { my $r = sysread($fh, $b, $n - length $b, length $b); if (!defined $r) { next if $!{EINTR}; return } return if $r == 0 } $b }
sub child { my ($rr, $ow, $ew, $sw) = @_;
  my $head = readall($rr, 4); POSIX::_exit(127) unless defined $head;
  my $req = readall($rr, unpack('N', $head)); POSIX::_exit(127) unless defined $req;
  my @f = split /\0/, $req, -1;
  my $cwd = shift @f; my $argc = shift @f; my @argv = splice(@f, 0, $argc);
  open(STDIN, '<', '/dev/null'); open(STDOUT, '>&', $ow); open(STDERR, '>&', $ew);
  $SIG{CHLD} = 'DEFAULT'; $SIG{PIPE} = 'DEFAULT';
  %ENV = map { split /=/, $_, 2 } @f;
  if (chdir $cwd) { exec { $argv[0] } @argv }
  syswrite($sw, 0 + $!);
  POSIX::_exit(127) }
sub prefork {
  my ($rr, $rw, $or, $ow, $er, $ew, $sr, $sw);
  pipe($rr, $rw) && pipe($or, $ow) && pipe($er, $ew) && pipe($sr, $sw) or return put('f', "pipe: $!");
  my $pid = fork();
  return put('f', "fork: $!") unless defined $pid;
  if ($pid == 0) { POSIX::setsid(); close $rw; syswrite($sw, 'R'); child($rr, $ow, $ew, $sw) }
  close $rr; close $ow; close $ew; close $sw;
  %next = (pid => $pid, req => $rw, out => $or, err => $er, st => $sr) }
# Said once the child has its own session (its 'R'), so that a kill of the group reaches all it runs.
sub ready { readall($next{st}, 1); $next{ready} = 1;
  # Its start time (field 22 of /proc/PID/stat) names it for the journal, read here, off the step's path.
  my $start = '';
  if (open(my $stat, '<', "/proc/$next{pid}/stat")) { my $s = <$stat> // ''; $s =~ s/.*\) //s; $start = (split / /, $s)[19] // '' }
  put('p', "$next{pid} $start") }
sub run { my $body = $_[0];
  return put('n', 'no child was ready to run it') unless $next{ready};
  my $b = pack('N', length $body) . $body;
  while (length $b) { my $w = syswrite($next{req}, $b); if (!defined $w) { next if $!{EINTR}; last } substr($b, 0, $w) = '' }
  close delete $next{req};
  %c = %next; %next = ();
  prefork() }
sub reap { return unless $c{pid} && !defined $c{status};
  if (waitpid($c{pid}, POSIX::WNOHANG()) == $c{pid}) { $c{status} = $?; $c{ended} = Time::HiRes::time() } }
sub finish { my $errno = '';
  while (1) { my $r = sysread($c{st}, $errno, 16, length $errno); last if defined $r ? $r == 0 : !$!{EINTR} }
  put('x', "$c{status} $errno"); close $_ for grep { defined } @c{qw(out err st)}; %c = () }
prefork();
while (1) {
  my $rin = ''; vec($rin, 0, 1) = 1;
  for my $s (qw(out err)) { vec($rin, fileno $c{$s}, 1) = 1 if $c{$s} }
  vec($rin, fileno $next{st}, 1) = 1 if $next{st} && !$next{ready};
  # A SIGCHLD before select is seen in $chld; one in the instant before the call itself waits for the timeout.
  my $wait = !$c{pid} ? undef : defined $c{status} ? Time::HiRes::time() < $c{ended} + $GRACE ? $c{ended} + $GRACE - Time::HiRes::time() : 0 : $c{out} || $c{err} ? 0.05 : 0.0005;
  $wait = 0 if $chld; $chld = 0;
  my $n = select(my $rout = $rin, undef, undef, $wait);
  reap();
  if ($n > 0) {
    if (vec($rout, 0, 1)) {
      my $r = sysread(STDIN, $in, 65536, length $in);
      exit 0 if defined $r && $r == 0;
      while (length $in >= 5) {
        my ($t, $len) = unpack('aN', $in);
        last if length $in < 5 + $len;
        my $body = substr($in, 5, $len); substr($in, 0, 5 + $len) = '';
        run($body) if $t eq 'r';
      }
    }
    ready() if $next{st} && !$next{ready} && vec($rout, fileno $next{st}, 1);
    for my $s (qw(out err)) {
      next unless $c{$s} && vec($rout, fileno $c{$s}, 1);
      my $r = sysread($c{$s}, my $b, 65536);
      if ($r) { put($s eq 'out' ? 'o' : 'e', $b) } elsif (defined $r || !$!{EINTR}) { close delete $c{$s} }
    }
  }
  reap();
  finish() if $c{pid} && defined $c{status} && ((!$c{out} && !$c{err}) || Time::HiRes::time() >= $c{ended} + $GRACE);
}
`;

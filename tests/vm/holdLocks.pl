# Holds apt's and dpkg's locks as apt itself takes them (fcntl write locks) until stdin closes:
# what the image's own package jobs do on a VM's first boot. Prints "locked" once it holds them all.
use strict;
use Fcntl qw(:DEFAULT :seek);
$| = 1;
my @held;
for my $file (@ARGV) {
  open(my $handle, ">>", $file) or die "open $file: $!";
  # struct flock on 64-bit Linux: l_type, l_whence, (pad), l_start, l_len, l_pid, (pad)
  my $lock = pack("s s x4 q q i x4", F_WRLCK, SEEK_SET, 0, 0, 0);
  fcntl($handle, F_SETLKW, $lock) or die "lock $file: $!";
  push @held, $handle;
}
print "locked\n";
my $ignored = <STDIN>;

#!/usr/bin/perl
# sa_hits.pl - the rules SpamAssassin hits on each message, for comparing
# postern's scorer with SpamAssassin's.
#
# Loads Mail::SpamAssassin once, as `spamassassin -L -x -t` with Bayes
# and the auto-welcomelist off would (stock rules from
# /usr/share/spamassassin, site config and plugin loads from
# /etc/spamassassin, no user preferences, no network tests: score set
# 0), then scores every FILE and prints, in the format of `postern score
# -a`:
#
#   message FILE score=S
#   hit RULE type=TYPE score=S count=N
#
# one hit line per rule hit, sub-rules ("__" names) included, sorted by
# name.  TYPE is SpamAssassin's: header, body, rawbody, uri, full, meta,
# or the same with "-eval" for eval: rules, rbl-eval, empty.
#
# Options:
#   -l          first list every rule SpamAssassin loaded:
#               "rule NAME type=TYPE score=S [header=FIELD] [deps=A,B]"
#               (score set 0; header: the field a header rule reads;
#               deps: the rules a meta rule names)
#   -P          first list the plugins loaded: "plugin NAME"
#   -r PATH     stock rules from PATH (default /usr/share/spamassassin)
#   -s PATH     site config from PATH (default /etc/spamassassin)
#   --cf LINE   an extra configuration line (repeatable)
#
# Messages are read whole, as `spamassassin FILE` reads a single-message
# file; LF and CRLF line ends are both fine.  Exit 0, 2 on a usage error
# or a file that cannot be read.

use strict;
use warnings;

use Getopt::Long qw(:config no_ignore_case bundling);
use Mail::SpamAssassin;

my %opt = (rules => '/usr/share/spamassassin', site => '/etc/spamassassin',
	   cf => []);
GetOptions('l' => \$opt{list}, 'P' => \$opt{plugins},
	   'r=s' => \$opt{rules}, 's=s' => \$opt{site},
	   'cf=s' => $opt{cf})
    or usage();
usage() if !@ARGV && !$opt{list} && !$opt{plugins};

# The type names, by the constants of Mail::SpamAssassin::Conf.
my %TYPE_NAME = (
	$Mail::SpamAssassin::Conf::TYPE_HEAD_TESTS    => 'header',
	$Mail::SpamAssassin::Conf::TYPE_HEAD_EVALS    => 'header-eval',
	$Mail::SpamAssassin::Conf::TYPE_BODY_TESTS    => 'body',
	$Mail::SpamAssassin::Conf::TYPE_BODY_EVALS    => 'body-eval',
	$Mail::SpamAssassin::Conf::TYPE_FULL_TESTS    => 'full',
	$Mail::SpamAssassin::Conf::TYPE_FULL_EVALS    => 'full-eval',
	$Mail::SpamAssassin::Conf::TYPE_RAWBODY_TESTS => 'rawbody',
	$Mail::SpamAssassin::Conf::TYPE_RAWBODY_EVALS => 'rawbody-eval',
	$Mail::SpamAssassin::Conf::TYPE_URI_TESTS     => 'uri',
	$Mail::SpamAssassin::Conf::TYPE_URI_EVALS     => 'uri-eval',
	$Mail::SpamAssassin::Conf::TYPE_META_TESTS    => 'meta',
	$Mail::SpamAssassin::Conf::TYPE_RBL_EVALS     => 'rbl-eval',
	$Mail::SpamAssassin::Conf::TYPE_EMPTY_TESTS   => 'empty',
);

# Bayes, the auto-welcomelist and TxRep off (the last two only where
# their plugins are loaded: otherwise the lines are parse errors).
my @OFF = ('use_bayes 0', 'bayes_auto_learn 0',
	   'ifplugin Mail::SpamAssassin::Plugin::AWL',
	   'use_auto_welcomelist 0', 'endif',
	   'ifplugin Mail::SpamAssassin::Plugin::TxRep', 'use_txrep 0',
	   'endif');

my $sa = Mail::SpamAssassin->new({
	rules_filename      => $opt{rules},
	site_rules_filename => $opt{site},
	userprefs_filename  => '/dev/null',
	local_tests_only    => 1,
	dont_copy_prefs     => 1,
	require_rules       => 1,
	DEF_RULES_DIR       => '/usr/share/spamassassin',
	LOCAL_RULES_DIR     => '/etc/spamassassin',
	LOCAL_STATE_DIR     => '/var/lib/spamassassin',
	post_config_text    => join("\n", @OFF, @{$opt{cf}}) . "\n",
});
# Without user preferences (as -x), then what test mode forces off.
$sa->init(0);
$sa->{conf}->{use_auto_welcomelist} = 0;
$sa->{conf}->{bayes_auto_learn} = 0;

my $conf = $sa->{conf};
print_plugins() if $opt{plugins};
print_rules() if $opt{list};
my $status = 0;
foreach my $file (@ARGV) {
	$status = 2 if !score_file($file);
}
$sa->finish();
exit $status;

sub usage {
	print STDERR "usage: sa_hits.pl [-l] [-P] [-r RULES] [-s SITE] "
	    . "[--cf LINE]... FILE...\n";
	exit 2;
}

sub type_of {
	my ($name) = @_;
	my $t = $conf->{test_types}->{$name};
	return 'unknown' if !defined $t;
	return $TYPE_NAME{$t} // "type$t";
}

sub score_of {
	my ($name) = @_;
	return $conf->{scores}->{$name} // 0;
}

sub print_plugins {
	my %seen;
	foreach my $p (@{$sa->{plugins}->{plugins}}) {
		my $name = ref $p;
		print "plugin $name\n" if !$seen{$name}++;
	}
}

# With the field a header rule reads (header=NAME, "exists:" rules
# too) and the rules a meta rule names (deps=A,B,...), so that a caller
# can tell which rules rest on data it does not have.
sub print_rules {
	foreach my $name (sort keys %{$conf->{test_types}}) {
		my $line = sprintf "rule %s type=%s score=%s", $name,
		    type_of($name), score_of($name);
		my $hdr = $conf->{test_opt_header}->{$name};
		$line .= " header=$hdr" if defined $hdr;
		my $deps = $conf->{meta_dependencies}->{$name};
		$line .= ' deps=' . join(',', @$deps) if $deps && @$deps;
		print "$line\n";
	}
}

sub read_file {
	my ($file) = @_;
	open(my $fh, '<:raw', $file) or return undef;
	local $/;
	my $data = <$fh>;
	close $fh;
	return $data // '';
}

sub score_file {
	my ($file) = @_;
	my $data = read_file($file);
	if (!defined $data) {
		print STDERR "sa_hits.pl: $file: $!\n";
		return 0;
	}
	my $mail = $sa->parse($data);
	my $pms = $sa->check($mail);
	printf "message %s score=%.3f\n", $file, $pms->get_score();
	my %hit;
	foreach my $list ($pms->get_names_of_tests_hit(),
			  $pms->get_names_of_subtests_hit()) {
		$hit{$_} = 1 foreach grep { $_ ne '' } split(/,/, $list);
	}
	foreach my $name (sort keys %hit) {
		my $count = $pms->{tests_already_hit}->{$name} || 1;
		printf "hit %s type=%s score=%s count=%d\n", $name,
		    type_of($name), score_of($name), $count;
	}
	$pms->finish();
	$mail->finish();
	return 1;
}

# postern - one Makefile, explicit source lists, strict warnings.
#
#   make            build ./postern
#   make deps       install every Debian package build, tests and demo need
#   make check      unit tests (cmocka) + integration tests (real MTAs)
#   make check-asan unit tests under AddressSanitizer and UBSan
#   make demo       show postern relaying a real message to a real MTA
#   make bench      throughput and memory against a direct baseline

CC	?= cc
BUILD	?= build
PYTHON	?= /usr/bin/python3

PKGS	= libevent libevent_pthreads libconfuse opendkim libcrypto libunbound \
	  libpsl libidn2 libpcre2-8 gmime-3.0 libssl libevent_openssl \
	  libmicrohttpd sqlite3
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN	= -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wpointer-arith \
	  -Wcast-qual -Wstrict-prototypes -Wmissing-prototypes \
	  -Wmissing-declarations -Wwrite-strings -Wnested-externs \
	  -Wundef -Wvla -Wno-unused-parameter
CFLAGS	?= -O2 -g
ALL_CFLAGS = $(CFLAGS) -std=c11 -D_GNU_SOURCE -fno-strict-aliasing \
	   $(WARN) -I. $(PKG_CFLAGS) $(SAN)
ALL_LDFLAGS = $(LDFLAGS) $(SAN)
LIBS	= $(PKG_LIBS) -lspf2 -lmilter -lpthread

UTIL_SRCS = \
	util/dns.c \
	util/log.c \
	util/netaddr.c \
	util/sockio.c \
	util/spool.c \
	util/workpool.c \
	util/xalloc.c

FILTER_SRCS = \
	filters/filter_addr.c \
	filters/filter_authres.c \
	filters/filter_chain.c \
	filters/filter_dkim.c \
	filters/filter_dkim_sign.c \
	filters/filter_dmarc.c \
	filters/filter_msg.c \
	filters/filter_received.c \
	filters/filter_spf.c \
	filters/filter_spf_dns.c \
	filters/filter_spam.c \
	filters/filter_spf_record.c \
	filters/filter_txn.c \
	filters/report.c \
	filters/report_history.c \
	filters/report_stats.c \
	filters/spam_msg.c \
	filters/spam_msg_addr.c \
	filters/spam_msg_body.c \
	filters/spam_msg_canon.c \
	filters/spam_msg_charset.c \
	filters/spam_msg_domain.c \
	filters/spam_msg_entities.c \
	filters/spam_msg_html.c \
	filters/spam_msg_htmltok.c \
	filters/spam_msg_mime.c \
	filters/spam_msg_relays.c \
	filters/spam_msg_relays_tab.c \
	filters/spam_msg_target.c \
	filters/spam_msg_tlds.c \
	filters/spam_msg_uri.c \
	filters/spam_msg_util.c \
	filters/spam_rules.c \
	filters/spam_rules_atoms.c \
	filters/spam_rules_build.c \
	filters/spam_rules_cmd.c \
	filters/spam_rules_cond.c \
	filters/spam_rules_expr.c \
	filters/spam_rules_meta.c \
	filters/spam_rules_parse.c \
	filters/spam_rules_prefilter.c \
	filters/spam_rules_regex.c \
	filters/spam_rules_replace.c \
	filters/spam_rules_score.c

POLICY_SRCS = \
	policy/policy_auth.c \
	policy/policy_clients.c \
	policy/policy_dmarc.c \
	policy/policy_key.c \
	policy/policy_psl.c

SIGN_SRCS = \
	sign/sign_dkim.c \
	sign/sign_dkim_mem.c \
	sign/sign_keygen.c \
	sign/sign_keys.c

PROXY_SRCS = \
	proxy/config.c \
	proxy/config_build.c \
	proxy/config_file.c \
	proxy/config_filter.c \
	proxy/config_print.c \
	proxy/config_spam.c \
	proxy/config_tls.c \
	proxy/config_upstream.c \
	proxy/metrics.c \
	proxy/metrics_page.c \
	proxy/postern_release.c \
	proxy/postern_report.c \
	proxy/postern_report_dmarc.c \
	proxy/postern_score.c \
	proxy/proxy_proto.c \
	proxy/server.c \
	proxy/session.c \
	proxy/session_auth.c \
	proxy/session_cmd.c \
	proxy/session_data.c \
	proxy/session_hold.c \
	proxy/session_proxy.c \
	proxy/session_report.c \
	proxy/session_tls.c \
	proxy/session_source.c \
	proxy/smtp_data.c \
	proxy/smtp_parse.c \
	proxy/smtp_reply.c \
	proxy/tls.c \
	proxy/upstream.c \
	proxy/upstream_source.c \
	proxy/upstream_tls.c

MILTER_SRCS = \
	milter/milter_conn.c \
	milter/milter_edit.c \
	milter/milter_main.c \
	milter/milter_msg.c \
	milter/milter_verdict.c

LIB_SRCS = $(UTIL_SRCS) $(FILTER_SRCS) $(POLICY_SRCS) $(SIGN_SRCS) \
	$(PROXY_SRCS) $(MILTER_SRCS)
LIB_OBJS = $(LIB_SRCS:%.c=$(BUILD)/%.o)

UNIT_TESTS = \
	test_config \
	test_dns \
	test_filter_addr \
	test_filter_authres \
	test_filter_chain \
	test_filter_msg \
	test_filter_spf \
	test_log \
	test_netaddr \
	test_policy_auth \
	test_policy_clients \
	test_policy_dmarc \
	test_policy_psl \
	test_proxy_proto \
	test_postern_report \
	test_report_history \
	test_report_stats \
	test_sign_dkim_mem \
	test_sign_keygen \
	test_sign_keys \
	test_smtp_data \
	test_smtp_parse \
	test_smtp_reply \
	test_spam_msg \
	test_spam_msg_relays \
	test_spam_rules \
	test_spool \
	test_tls \
	test_upstream_source \
	test_workpool
UNIT_BINS = $(UNIT_TESTS:%=$(BUILD)/tests/%)

all: postern

postern: $(BUILD)/postern
	cp $(BUILD)/postern $@

$(BUILD)/postern: $(BUILD)/proxy/postern.o $(BUILD)/libpostern.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/libpostern.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit*.h $(BUILD)/libpostern.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libpostern.a \
		$(LIBS) -lcmocka

-include $(LIB_OBJS:.o=.d) $(BUILD)/proxy/postern.d

# Debian packages: build, unit tests, integration tests, demo, bench.
DEPS_BUILD = build-essential pkg-config libevent-dev libconfuse-dev \
	libmilter-dev \
	libcmocka-dev clang-format libopendkim-dev libssl-dev libunbound-dev \
	libpsl-dev libidn2-dev libspf2-dev libpcre2-dev libgmime-3.0-dev \
	libmicrohttpd-dev libsqlite3-dev
DEPS_TEST = postfix swaks python3 python3-pytest unbound python3-dnspython \
	python3-dkim python3-cryptography opendkim opendkim-tools libmail-dkim-perl \
	openssl python3-yaml spamassassin spamc sa-compile libmail-spf-perl \
	libmail-dmarc-perl libbsd-resource-perl gnupg haproxy sasl2-bin \
	libsasl2-modules libio-socket-ssl-perl chromium libxml2-utils
deps:
	@sh tests/deps.sh $(DEPS_BUILD) $(DEPS_TEST)

units: $(UNIT_BINS)

check-unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do \
		CORPUS=$(CURDIR)/../shared/corpus $$t || fail=1; \
	done; exit $$fail

check-integration: $(BUILD)/postern
	POSTERN=$(CURDIR)/$(BUILD)/postern $(PYTHON) -m pytest -v \
		tests/integration

check: deps
	$(MAKE) check-unit
	$(MAKE) check-integration

check-asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g" \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer \
		-fno-sanitize-recover=all" check-unit

demo: deps $(BUILD)/postern
	$(PYTHON) tests/demo.py

# The benchmark compares with spamd and OpenDKIM as well.
DEPS_BENCH = spamd
bench: deps $(BUILD)/postern
	@sh tests/deps.sh $(DEPS_BENCH)
	$(PYTHON) tests/bench.py

format:
	clang-format -i $(LIB_SRCS) proxy/postern.c */*.h tests/unit/*.c

clean:
	rm -rf build build-asan postern

.PHONY: all deps units check check-unit check-integration check-asan \
	demo bench format clean

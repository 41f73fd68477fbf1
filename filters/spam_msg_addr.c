/*
 * spam_msg_addr.c - addresses and display names in header fields, for
 * header rules on "From:addr" and "From:name", read by GMime's address
 * parser (internet_address_list_parse).
 *
 * Every mailbox's address, or every mailbox's display name that is not
 * empty, is reported in order; a group's members count, its name does
 * not (SpamAssassin drops the group name too).  GMime decodes encoded
 * words in names and reads 8-bit names as UTF-8 or else Windows-1252;
 * the name is then given SpamAssassin's finish: white space squeezed,
 * one level of single quotes taken off.  An address ends before a
 * second '@', as SpamAssassin cuts it.
 *
 * XXX SpamAssassin's own relaxed parser (Util.pm) differs from GMime's
 * on broken fields: GMime drops an address with a bad local part
 * ("s..palmer@example.com"), which SpamAssassin reports, and its
 * comments and quoting rules are not Util.pm's regexes.  Such fields
 * may give fewer or other addresses or names than SpamAssassin's.
 */
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "filters/spam_msg_private.h"
#include "util/xalloc.h"

#define ADDRS_MAX 256

/* An address ends before its second '@'. */
static size_t
addr_cut(const char *s, size_t len)
{
	const char *at = memchr(s, '@', len), *at2;

	if (at == NULL)
		return len;
	at2 = memchr(at + 1, '@', len - (size_t)(at + 1 - s));
	return at2 != NULL ? (size_t)(at2 - s) : len;
}

/* The display name as get() returns it: white space runs made one
 * space, none at the ends, one level of single quotes off. */
static void
report_name(const char *s, spam_msg_addr_cb *cb, void *arg)
{
	struct spam_msg_buf b = {0};
	size_t n = strlen(s), i, j;

	spam_msg_buf_add(&b, "", 0);
	for (i = 0; i < n; i = j) {
		for (j = i; j < n && spam_msg_util_is_ws((unsigned char)s[j]);
		     j++)
			;
		if (j > i) {
			if (i > 0 && j < n)
				spam_msg_buf_addc(&b, ' ');
			continue;
		}
		spam_msg_buf_addc(&b, s[j++]);
	}
	if (b.len >= 2 && b.s[0] == '\'' && b.s[b.len - 1] == '\'')
		cb(arg, b.s + 1, b.len - 2);
	else if (b.len > 0)
		cb(arg, b.s, b.len);
	spam_msg_buf_free(&b);
}

/* SpamAssassin takes only "local@domain" for an address: a word
 * without '@' that GMime reads as a bare address is a display name
 * there. */
static void
report_mailbox(InternetAddress *ia, int want_name, spam_msg_addr_cb *cb,
               void *arg)
{
	const char *name = internet_address_get_name(ia);
	const char *addr =
	    internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
	int is_addr = addr != NULL && strchr(addr, '@') != NULL;

	if (name == NULL || *name == '\0')
		name = is_addr || addr == NULL ? "" : addr;
	else if (is_addr && strcmp(name, addr) == 0)
		name = ""; /* "a@b <a@b>": no display name there either */
	if (want_name) {
		if (*name != '\0')
			report_name(name, cb, arg);
		return;
	}
	if (is_addr)
		cb(arg, addr, addr_cut(addr, strlen(addr)));
}

/* Groups inside groups are not walked (RFC 5322 has none). */
static void
walk_list(InternetAddressList *l, int want_name, int in_group,
          spam_msg_addr_cb *cb, void *arg, int *budget)
{
	int i, n = internet_address_list_length(l);
	InternetAddress *ia;

	for (i = 0; i<n && * budget> 0; i++) {
		ia = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			if (!in_group)
				walk_list(internet_address_group_get_members(
				              INTERNET_ADDRESS_GROUP(ia)),
				          want_name, 1, cb, arg, budget);
			continue;
		}
		if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
			continue;
		(*budget)--;
		report_mailbox(ia, want_name, cb, arg);
	}
}

/* GMime finds no mailbox in a field of words without an address;
 * SpamAssassin reads them as a display name (quotes dropped). */
static void
words_as_name(const char *v, spam_msg_addr_cb *cb, void *arg)
{
	char *dec, *w;
	size_t n, i, j = 0;

	if (strpbrk(v, "@<>,;:") != NULL)
		return;
	dec = spam_msg_charset_decode_header(v, strlen(v), "pms:get", &n);
	w = xmalloc(n + 1);
	for (i = 0; i < n; i++) {
		if (dec[i] != '"' && dec[i] != '\0')
			w[j++] = dec[i];
	}
	w[j] = '\0';
	report_name(w, cb, arg);
	free(w);
	free(dec);
}

void
spam_msg_addr_parse(const char *value, size_t len, int want_name,
                    spam_msg_addr_cb *cb, void *arg)
{
	InternetAddressList *l;
	char *v, *fixed;
	int budget = ADDRS_MAX;

	spam_msg_charset_init();
	v = xstrndup(value, len); /* a NUL ends the field here */
	fixed = spam_msg_charset_fix_words(v);
	l = internet_address_list_parse(spam_msg_charset_parser_options(),
	                                fixed);
	if (l != NULL) {
		walk_list(l, want_name, 0, cb, arg, &budget);
		g_object_unref(l);
	}
	if (want_name && budget == ADDRS_MAX)
		words_as_name(v, cb, arg);
	free(fixed);
	free(v);
}

/*
 * spam_msg_domain.c - whether a URI names a host SpamAssassin 4.0
 * would look up (RegistryBoundaries.pm's uri_to_domain): an IP
 * address, or a valid host name ending in a known TLD.  A URI found in
 * text counts only if one of its variants does (spam_msg_uri.c).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/spam_msg_private.h"
#include "util/xalloc.h"

static int
isxdigit_ascii(char c)
{
	return (c >= '0' && c <= '9') ||
	       ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static int
prefix_ci(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);

	return len >= n && strncasecmp(s, p, n) == 0;
}

static int
ipv4_octet(const char *s, size_t len)
{
	if (len == 0 || len > 3 || !spam_msg_util_all_digits(s, len))
		return 0;
	if (len > 1 && s[0] == '0')
		return 0;
	return (len < 3 || memcmp(s, "255", 3) <= 0);
}

static int
is_ip(const char *s, size_t len)
{
	char tmp[64];
	unsigned char v6[16];
	size_t i, start = 0, parts = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (!ipv4_octet(s + start, i - start))
			break;
		parts++;
		start = i + 1;
	}
	if (parts == 4 && i > len)
		return 1;
	if (len >= sizeof(tmp) || memchr(s, ':', len) == NULL)
		return 0;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return inet_pton(AF_INET6, tmp, v6) == 1;
}

/* A mailto: address's host: up to '?', after the only '@'. */
static const char *
mail_host(const char *s, size_t len, size_t *len_r)
{
	const char *q = memchr(s, '?', len), *at;

	if (q != NULL)
		len = (size_t)(q - s);
	at = memchr(s, '@', len);
	if (at == NULL || memchr(at + 1, '@', len - (size_t)(at + 1 - s)))
		return NULL;
	*len_r = len - (size_t)(at + 1 - s);
	return at + 1;
}

/* An URL's host: scheme, path, user and port removed. */
static const char *
url_host(const char *s, size_t len, size_t *len_r)
{
	size_t i = 0, k;
	const char *at;

	while (i < len && s[i] >= 'a' && s[i] <= 'z')
		i++;
	if (i > 0 && i < len && s[i] == ':') {
		i++;
		for (k = 0; k < 2 && i < len && s[i] == '/'; k++)
			i++;
		s += i;
		len -= i;
	}
	for (i = 0; i < len && !(s[i] != '\0' && strchr("/?#", s[i])); i++)
		;
	len = i;
	at = memrchr(s, '@', len);
	if (at != NULL) {
		len -= (size_t)(at + 1 - s);
		s = at + 1;
	}
	for (i = len; i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9'; i--)
		;
	if (i > 0 && s[i - 1] == ':')
		len = i - 1;
	*len_r = len;
	return s;
}

/* A %-escape of a printable character that should have been decoded. */
static int
bad_escape(const char *s, size_t len)
{
	size_t i;
	char a, b;

	for (i = 0; i + 2 < len; i++) {
		if (s[i] != '%')
			continue;
		a = s[i + 1];
		b = s[i + 2];
		if ((a == '2' &&
		     ((b >= '1' && b <= '9') || (b >= 'a' && b <= 'f'))) ||
		    (a >= '3' && a <= '6' && isxdigit_ascii(b) &&
		     !(b >= 'A' && b <= 'F')) ||
		    (a == '7' &&
		     ((b >= '0' && b <= '9') || (b >= 'a' && b <= 'e'))))
			return 1;
	}
	return 0;
}

int
spam_msg_domain_check(const char *uri, size_t len)
{
	struct spam_msg_buf b = {0};
	const char *s, *p;
	size_t n;
	int ok = 0;

	spam_msg_buf_add(&b, uri, len);
	for (n = 0; n < b.len; n++) {
		if (b.s[n] >= 'A' && b.s[n] <= 'Z')
			b.s[n] = (char)(b.s[n] + 32);
	}
	s = b.s;
	n = b.len;
	if (prefix_ci(s, n, "javascript:") || prefix_ci(s, n, "cid:") ||
	    prefix_ci(s, n, "file:")) {
		spam_msg_buf_free(&b);
		return 0;
	}
	if (prefix_ci(s, n, "mailto:"))
		p = mail_host(s + 7, n - 7, &n);
	else
		p = url_host(s, n, &n);
	if (p != NULL && !bad_escape(p, n))
		ok = is_ip(p, n) || (spam_msg_util_fqdn_valid(p, n) &&
		                     spam_msg_util_domain_valid(p, n));
	spam_msg_buf_free(&b);
	return ok;
}

/*
 * spam_msg_entities.c - HTML character references decoded as
 * HTML::Parser 3.81 decodes them for SpamAssassin, for
 * spam_msg_htmltok.c.
 *
 * The entities are HTML::Entities' (the HTML 4 set plus &apos;): the
 * Latin-1 ones are decoded without their ';' too ("&amp" alone, and in
 * text "&ampx" as "&" + "x"), the others only with it.  A numeric
 * reference to NUL, U+FFFE, U+FFFF or beyond U+10FFFF, or one that
 * overflows, is left as written; surrogates and other non-characters
 * become U+FFFD, a UTF-16 pair written as two references one character.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/spam_msg_htmltok.h"

struct entity {
	const char *name;
	unsigned int cp;
	int semicolon; /* needs the ';' */
};

/* Sorted by name (strcmp order) for bsearch. */
/* clang-format off */
static const struct entity entities[] = {
	{"AElig", 198, 0}, {"Aacute", 193, 0}, {"Acirc", 194, 0},
	{"Agrave", 192, 0}, {"Alpha", 913, 1}, {"Aring", 197, 0},
	{"Atilde", 195, 0}, {"Auml", 196, 0}, {"Beta", 914, 1},
	{"Ccedil", 199, 0}, {"Chi", 935, 1}, {"Dagger", 8225, 1},
	{"Delta", 916, 1}, {"ETH", 208, 0}, {"Eacute", 201, 0},
	{"Ecirc", 202, 0}, {"Egrave", 200, 0}, {"Epsilon", 917, 1},
	{"Eta", 919, 1}, {"Euml", 203, 0}, {"Gamma", 915, 1},
	{"Iacute", 205, 0}, {"Icirc", 206, 0}, {"Igrave", 204, 0},
	{"Iota", 921, 1}, {"Iuml", 207, 0}, {"Kappa", 922, 1},
	{"Lambda", 923, 1}, {"Mu", 924, 1}, {"Ntilde", 209, 0}, {"Nu", 925, 1},
	{"OElig", 338, 1}, {"Oacute", 211, 0}, {"Ocirc", 212, 0},
	{"Ograve", 210, 0}, {"Omega", 937, 1}, {"Omicron", 927, 1},
	{"Oslash", 216, 0}, {"Otilde", 213, 0}, {"Ouml", 214, 0},
	{"Phi", 934, 1}, {"Pi", 928, 1}, {"Prime", 8243, 1}, {"Psi", 936, 1},
	{"Rho", 929, 1}, {"Scaron", 352, 1}, {"Sigma", 931, 1},
	{"THORN", 222, 0}, {"Tau", 932, 1}, {"Theta", 920, 1},
	{"Uacute", 218, 0}, {"Ucirc", 219, 0}, {"Ugrave", 217, 0},
	{"Upsilon", 933, 1}, {"Uuml", 220, 0}, {"Xi", 926, 1},
	{"Yacute", 221, 0}, {"Yuml", 376, 1}, {"Zeta", 918, 1},
	{"aacute", 225, 0}, {"acirc", 226, 0}, {"acute", 180, 0},
	{"aelig", 230, 0}, {"agrave", 224, 0}, {"alefsym", 8501, 1},
	{"alpha", 945, 1}, {"amp", 38, 0}, {"and", 8743, 1}, {"ang", 8736, 1},
	{"apos", 39, 0}, {"aring", 229, 0}, {"asymp", 8776, 1},
	{"atilde", 227, 0}, {"auml", 228, 0}, {"bdquo", 8222, 1},
	{"beta", 946, 1}, {"brvbar", 166, 0}, {"bull", 8226, 1},
	{"cap", 8745, 1}, {"ccedil", 231, 0}, {"cedil", 184, 0},
	{"cent", 162, 0}, {"chi", 967, 1}, {"circ", 710, 1},
	{"clubs", 9827, 1}, {"cong", 8773, 1}, {"copy", 169, 0},
	{"crarr", 8629, 1}, {"cup", 8746, 1}, {"curren", 164, 0},
	{"dArr", 8659, 1}, {"dagger", 8224, 1}, {"darr", 8595, 1},
	{"deg", 176, 0}, {"delta", 948, 1}, {"diams", 9830, 1},
	{"divide", 247, 0}, {"eacute", 233, 0}, {"ecirc", 234, 0},
	{"egrave", 232, 0}, {"empty", 8709, 1}, {"emsp", 8195, 1},
	{"ensp", 8194, 1}, {"epsilon", 949, 1}, {"equiv", 8801, 1},
	{"eta", 951, 1}, {"eth", 240, 0}, {"euml", 235, 0}, {"euro", 8364, 1},
	{"exist", 8707, 1}, {"fnof", 402, 1}, {"forall", 8704, 1},
	{"frac12", 189, 0}, {"frac14", 188, 0}, {"frac34", 190, 0},
	{"frasl", 8260, 1}, {"gamma", 947, 1}, {"ge", 8805, 1}, {"gt", 62, 0},
	{"hArr", 8660, 1}, {"harr", 8596, 1}, {"hearts", 9829, 1},
	{"hellip", 8230, 1}, {"iacute", 237, 0}, {"icirc", 238, 0},
	{"iexcl", 161, 0}, {"igrave", 236, 0}, {"image", 8465, 1},
	{"infin", 8734, 1}, {"int", 8747, 1}, {"iota", 953, 1},
	{"iquest", 191, 0}, {"isin", 8712, 1}, {"iuml", 239, 0},
	{"kappa", 954, 1}, {"lArr", 8656, 1}, {"lambda", 955, 1},
	{"lang", 9001, 1}, {"laquo", 171, 0}, {"larr", 8592, 1},
	{"lceil", 8968, 1}, {"ldquo", 8220, 1}, {"le", 8804, 1},
	{"lfloor", 8970, 1}, {"lowast", 8727, 1}, {"loz", 9674, 1},
	{"lrm", 8206, 1}, {"lsaquo", 8249, 1}, {"lsquo", 8216, 1},
	{"lt", 60, 0}, {"macr", 175, 0}, {"mdash", 8212, 1}, {"micro", 181, 0},
	{"middot", 183, 0}, {"minus", 8722, 1}, {"mu", 956, 1},
	{"nabla", 8711, 1}, {"nbsp", 160, 0}, {"ndash", 8211, 1},
	{"ne", 8800, 1}, {"ni", 8715, 1}, {"not", 172, 0}, {"notin", 8713, 1},
	{"nsub", 8836, 1}, {"ntilde", 241, 0}, {"nu", 957, 1},
	{"oacute", 243, 0}, {"ocirc", 244, 0}, {"oelig", 339, 1},
	{"ograve", 242, 0}, {"oline", 8254, 1}, {"omega", 969, 1},
	{"omicron", 959, 1}, {"oplus", 8853, 1}, {"or", 8744, 1},
	{"ordf", 170, 0}, {"ordm", 186, 0}, {"oslash", 248, 0},
	{"otilde", 245, 0}, {"otimes", 8855, 1}, {"ouml", 246, 0},
	{"para", 182, 0}, {"part", 8706, 1}, {"permil", 8240, 1},
	{"perp", 8869, 1}, {"phi", 966, 1}, {"pi", 960, 1}, {"piv", 982, 1},
	{"plusmn", 177, 0}, {"pound", 163, 0}, {"prime", 8242, 1},
	{"prod", 8719, 1}, {"prop", 8733, 1}, {"psi", 968, 1}, {"quot", 34, 0},
	{"rArr", 8658, 1}, {"radic", 8730, 1}, {"rang", 9002, 1},
	{"raquo", 187, 0}, {"rarr", 8594, 1}, {"rceil", 8969, 1},
	{"rdquo", 8221, 1}, {"real", 8476, 1}, {"reg", 174, 0},
	{"rfloor", 8971, 1}, {"rho", 961, 1}, {"rlm", 8207, 1},
	{"rsaquo", 8250, 1}, {"rsquo", 8217, 1}, {"sbquo", 8218, 1},
	{"scaron", 353, 1}, {"sdot", 8901, 1}, {"sect", 167, 0},
	{"shy", 173, 0}, {"sigma", 963, 1}, {"sigmaf", 962, 1},
	{"sim", 8764, 1}, {"spades", 9824, 1}, {"sub", 8834, 1},
	{"sube", 8838, 1}, {"sum", 8721, 1}, {"sup", 8835, 1},
	{"sup1", 185, 0}, {"sup2", 178, 0}, {"sup3", 179, 0},
	{"supe", 8839, 1}, {"szlig", 223, 0}, {"tau", 964, 1},
	{"there4", 8756, 1}, {"theta", 952, 1}, {"thetasym", 977, 1},
	{"thinsp", 8201, 1}, {"thorn", 254, 0}, {"tilde", 732, 1},
	{"times", 215, 0}, {"trade", 8482, 1}, {"uArr", 8657, 1},
	{"uacute", 250, 0}, {"uarr", 8593, 1}, {"ucirc", 251, 0},
	{"ugrave", 249, 0}, {"uml", 168, 0}, {"upsih", 978, 1},
	{"upsilon", 965, 1}, {"uuml", 252, 0}, {"weierp", 8472, 1},
	{"xi", 958, 1}, {"yacute", 253, 0}, {"yen", 165, 0}, {"yuml", 255, 0},
	{"zeta", 950, 1}, {"zwj", 8205, 1}, {"zwnj", 8204, 1},
};
/* clang-format on */

struct entity_key {
	const char *name;
	size_t len;
};

static int
entity_cmp(const void *k, const void *e)
{
	const struct entity_key *key = k;
	const struct entity *ent = e;
	int r = strncmp(key->name, ent->name, key->len);

	if (r != 0)
		return r;
	return ent->name[key->len] == '\0' ? 0 : -1;
}

unsigned int
spam_msg_entities_find(const char *name, size_t len, int semicolon)
{
	struct entity_key key = {name, len};
	const struct entity *e;

	e = bsearch(&key, entities, sizeof(entities) / sizeof(entities[0]),
	            sizeof(entities[0]), entity_cmp);
	if (e == NULL || e->semicolon != semicolon)
		return 0;
	return e->cp;
}

/*
 * Decoding
 */

static int
is_alnum_(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

static size_t
num_entity(const char *s, const char *end, uint64_t *num_r)
{
	const char *p = s;
	uint64_t num = 0, prev = 0;
	int hex = 0, ok = 0, d;

	if (p < end && (*p == 'x' || *p == 'X')) {
		hex = 1;
		p++;
	}
	while (p < end) {
		if (hex &&
		    ((*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
			d = (*p | 0x20) - 'a' + 10;
		else if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else
			break;
		num = hex ? num << 4 | (uint64_t)d : num * 10 + (uint64_t)d;
		if (prev != 0 && (hex ? num <= prev : num < prev))
			return 0; /* overflow: left as it is */
		prev = num;
		p++;
		ok = 1;
	}
	*num_r = num;
	return ok ? (size_t)(p - s) : 0;
}

/* The code point a numeric reference stands for, 0 to leave it as
 * written; hi tracks a high surrogate just before (UTF-16 pairs). */
static unsigned int
num_value(uint64_t num, unsigned int *hi, int *joined)
{
	*joined = 0;
	if (num == 0 || num == 0xfffe || num == 0xffff || num > 0x10ffff)
		return 0;
	if ((num & 0xfffffc00) == 0xdc00) {
		if (*hi == 0)
			return 0xfffd;
		num =
		    ((uint64_t)(*hi - 0xd800) << 10) + (num - 0xdc00) + 0x10000;
		*hi = 0;
		*joined = 1;
		return (unsigned int)num;
	}
	if ((num & 0xfffffc00) == 0xd800) {
		*hi = (unsigned int)num;
		return 0xfffd;
	}
	*hi = 0;
	if ((num >= 0xfdd0 && num <= 0xfdef) || (num & 0xfffe) == 0xfffe)
		return 0xfffd;
	return (unsigned int)num;
}

/* A named reference: its code point and length, 0 if none. */
static unsigned int
named_entity(const char *s, const char *end, int prefix, size_t *len_r)
{
	size_t n = 0, k;
	unsigned int cp;

	while (s + n < end && is_alnum_(s[n]))
		n++;
	if (n == 0)
		return 0;
	cp = spam_msg_entities_find(s, n, 0);
	if (cp == 0 && s + n < end && s[n] == ';')
		cp = spam_msg_entities_find(s, n, 1);
	*len_r = n;
	for (k = n - 1; cp == 0 && prefix && k > 0; k--) {
		cp = spam_msg_entities_find(s, k, 0);
		*len_r = k;
	}
	return cp;
}

int
spam_msg_htmltok_entities(const char *s, size_t len, int prefix, int chars,
                          struct spam_msg_buf *out)
{
	const char *p = s, *end = s + len;
	unsigned int cp, hi = 0;
	uint64_t num;
	size_t n;
	char u[4];
	int wide = 0, joined;

	spam_msg_buf_add(out, "", 0);
	while (p < end) {
		if (*p != '&') {
			spam_msg_buf_addc(out, *p++);
			continue;
		}
		cp = 0;
		joined = 0;
		if (p + 1 < end && p[1] == '#') {
			n = num_entity(p + 2, end, &num);
			if (n > 0)
				cp = num_value(num, &hi, &joined);
			n += 2;
		} else {
			cp = named_entity(p + 1, end, prefix, &n);
			n += 1;
			hi = 0;
		}
		if (cp == 0) {
			spam_msg_buf_addc(out, *p++);
			continue;
		}
		if (joined && out->len >= 3 &&
		    memcmp(out->s + out->len - 3, "\xef\xbf\xbd", 3) == 0)
			out->len -= 3; /* the U+FFFD of the high half */
		p += n;
		if (p < end && *p == ';')
			p++;
		if (p >= end || *p != '&')
			hi = 0;
		wide |= cp > 0xff;
		spam_msg_buf_add(out, u, spam_msg_utf8_put(u, cp));
	}
	(void)chars;
	return wide;
}

void
spam_msg_entities_latin1(struct spam_msg_buf *b)
{
	size_t i = 0, j = 0;
	unsigned char c;

	while (i < b->len) {
		c = (unsigned char)b->s[i];
		if ((c == 0xc2 || c == 0xc3) && i + 1 < b->len) {
			b->s[j++] = (char)(((c & 3) << 6) |
			                   ((unsigned char)b->s[i + 1] & 0x3f));
			i += 2;
			continue;
		}
		b->s[j++] = b->s[i++];
	}
	b->len = j;
	b->s[j] = '\0';
}

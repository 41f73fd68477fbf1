/*
 * sign_dkim.c - DKIM signatures with libopendkim.
 *
 * libopendkim handles one key per signing handle, so a message signed
 * with an RSA and an Ed25519 key runs two handles side by side, fed the
 * same octets.  The header-field lists are library options, set once
 * per signer.  Body octets are buffered by libopendkim itself; nothing
 * here holds the message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <opendkim/dkim.h>

#include "sign/sign_dkim.h"
#include "sign/sign_dkim_mem.h"
#include "sign/sign_keys.h"
#include "util/xalloc.h"

/* Signed by default: what identifies and describes the message. */
static const char *const sign_default_headers[] = {
    "from",
    "reply-to",
    "subject",
    "date",
    "to",
    "cc",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "sender",
};

/* Oversigned by default: a replayed message must not gain another. */
static const char *const sign_default_oversign[] = {
    "from",         "reply-to",
    "subject",      "date",
    "to",           "cc",
    "message-id",   "mime-version",
    "content-type", "content-transfer-encoding",
};

struct sign_dkim {
	DKIM_LIB *lib;
	dkim_canon_t hcanon;
	dkim_canon_t bcanon;
};

struct sign_dkim_msg {
	size_t n;
	DKIM **handles;
	char **keys; /* NUL-terminated PEM copies libopendkim reads */
	struct sign_dkim_mem **mems; /* each handle's allocations */
};

/* A NULL-terminated copy of a name list, as libopendkim wants. */
static const char **
name_list(const char *const *names, size_t n)
{
	const char **list = xcalloc(n + 1, sizeof(*list));

	memcpy(list, names, n * sizeof(*list));
	return list;
}

static int
set_list(DKIM_LIB *lib, int opt, const char *const *names, size_t n)
{
	const char **list = name_list(names, n);
	DKIM_STAT st;

	/* libopendkim takes the array itself and copies it. */
	st = dkim_options(lib, DKIM_OP_SETOPT, opt, (void *)list, sizeof(list));
	free(list);
	return st == DKIM_STAT_OK ? 0 : -1;
}

struct sign_dkim *
sign_dkim_create(const struct sign_dkim_opts *opts, const char **error_r)
{
	struct sign_dkim *sd;
	const char *const *sign = opts->sign_headers;
	const char *const *over = opts->oversign_headers;
	size_t nsign = opts->nsign_headers, nover = opts->noversign_headers;

	if (sign == NULL) {
		sign = sign_default_headers;
		nsign = sizeof(sign_default_headers) / sizeof(*sign);
	}
	if (over == NULL) {
		over = sign_default_oversign;
		nover = sizeof(sign_default_oversign) / sizeof(*over);
	}
	sd = xcalloc(1, sizeof(*sd));
	sd->lib = dkim_init(sign_dkim_mem_alloc, sign_dkim_mem_free);
	if (sd->lib == NULL) {
		free(sd);
		*error_r = "cannot initialize libopendkim";
		return NULL;
	}
	sd->hcanon =
	    opts->header_relaxed ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
	sd->bcanon =
	    opts->body_relaxed ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
	if (set_list(sd->lib, DKIM_OPTS_SIGNHDRS, sign, nsign) < 0 ||
	    set_list(sd->lib, DKIM_OPTS_OVERSIGNHDRS, over, nover) < 0) {
		dkim_close(sd->lib);
		free(sd);
		*error_r = "libopendkim refused the header lists";
		return NULL;
	}
	return sd;
}

void
sign_dkim_destroy(struct sign_dkim **sdp)
{
	struct sign_dkim *sd = *sdp;

	if (sd == NULL)
		return;
	dkim_close(sd->lib);
	free(sd);
	*sdp = NULL;
}

int
sign_dkim_has_ed25519(const struct sign_dkim *sd)
{
	return dkim_libfeature(sd->lib, DKIM_FEATURE_ED25519);
}

void
sign_dkim_msg_free(struct sign_dkim_msg **mp)
{
	struct sign_dkim_msg *m = *mp;
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		if (m->handles[i] != NULL)
			dkim_free(m->handles[i]);
		sign_dkim_mem_destroy(&m->mems[i]);
		free(m->keys[i]);
	}
	free(m->handles);
	free(m->keys);
	free(m->mems);
	free(m);
	*mp = NULL;
}

struct sign_dkim_msg *
sign_dkim_begin(struct sign_dkim *sd, const char *id,
                const struct sign_choice *choices, size_t n, char **error_r)
{
	struct sign_dkim_msg *m;
	const struct sign_key *k;
	DKIM_STAT st;
	size_t i;

	m = xcalloc(1, sizeof(*m));
	m->n = n;
	m->handles = xcalloc(n, sizeof(*m->handles));
	m->keys = xcalloc(n, sizeof(*m->keys));
	m->mems = xcalloc(n, sizeof(*m->mems));
	for (i = 0; i < n; i++) {
		k = choices[i].key;
		m->mems[i] =
		    sign_dkim_mem_new(k->alg == SIGN_ALG_ED25519_SHA256);
		/* XXX libopendkim takes the key as text and decodes it again
		 * for every message (about 330 us with OpenSSL 3, more than
		 * an RSA-2048 signature); it has no call that takes a loaded
		 * key.  Kept: a well-kept library over our own signer; the
		 * cost is measured by `make bench`. */
		m->keys[i] = xstrndup((const char *)k->pem, k->pemlen);
		m->handles[i] = dkim_sign(
		    sd->lib, (const u_char *)id, m->mems[i],
		    (dkim_sigkey_t)m->keys[i], (const u_char *)k->selector,
		    (const u_char *)choices[i].domain, sd->hcanon, sd->bcanon,
		    k->alg == SIGN_ALG_ED25519_SHA256 ? DKIM_SIGN_ED25519SHA256
		                                      : DKIM_SIGN_RSASHA256,
		    -1, &st);
		if (m->handles[i] == NULL) {
			*error_r = xasprintf("key %s: %s", k->name,
			                     dkim_getresultstr(st));
			sign_dkim_msg_free(&m);
			return NULL;
		}
		/* XXX libopendkim 2.11.0~beta2 folds an Ed25519 signature
		 * field differently when it hashes it (b= empty) than when it
		 * writes it, which breaks c=simple headers; unfolded, the two
		 * agree.  The field stays well under 998 octets. */
		if (k->alg == SIGN_ALG_ED25519_SHA256)
			dkim_set_margin(m->handles[i], 0);
	}
	return m;
}

static int
sign_error(DKIM *dkim, const char *what, DKIM_STAT st, char **error_r)
{
	const char *detail = dkim_geterror(dkim);

	*error_r =
	    xasprintf("%s: %s%s%s", what, dkim_getresultstr(st),
	              detail != NULL ? ": " : "", detail != NULL ? detail : "");
	return -1;
}

int
sign_dkim_header(struct sign_dkim_msg *m, const char *field, size_t len,
                 char **error_r)
{
	DKIM_STAT st;
	size_t i;

	for (i = 0; i < m->n; i++) {
		st =
		    dkim_header(m->handles[i], (u_char *)(uintptr_t)field, len);
		if (st != DKIM_STAT_OK)
			return sign_error(m->handles[i], "header", st, error_r);
	}
	return 0;
}

int
sign_dkim_body(struct sign_dkim_msg *m, const char *data, size_t len,
               char **error_r)
{
	DKIM_STAT st;
	size_t i;

	for (i = 0; i < m->n; i++) {
		st = dkim_body(m->handles[i], (u_char *)(uintptr_t)data, len);
		if (st != DKIM_STAT_OK)
			return sign_error(m->handles[i], "body", st, error_r);
	}
	return 0;
}

int
sign_dkim_eoh(struct sign_dkim_msg *m, char **error_r)
{
	DKIM_STAT st;
	size_t i;

	for (i = 0; i < m->n; i++) {
		st = dkim_eoh(m->handles[i]);
		if (st != DKIM_STAT_OK)
			return sign_error(m->handles[i], "end of header", st,
			                  error_r);
	}
	return 0;
}

int
sign_dkim_end(struct sign_dkim_msg *m, char **values, char **error_r)
{
	static const size_t prefix = sizeof("DKIM-Signature: ") - 1;
	u_char *hdr;
	size_t i, j, len;
	DKIM_STAT st;

	for (i = 0; i < m->n; i++) {
		st = dkim_eom(m->handles[i], NULL);
		if (st == DKIM_STAT_OK)
			st =
			    dkim_getsighdr_d(m->handles[i], prefix, &hdr, &len);
		if (st != DKIM_STAT_OK) {
			for (j = 0; j < i; j++)
				free(values[j]);
			return sign_error(m->handles[i], "signing", st,
			                  error_r);
		}
		values[i] = xstrndup((const char *)hdr, len);
	}
	return 0;
}

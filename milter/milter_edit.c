/*
 * milter_edit.c - the chain's header edits as milter actions.
 *
 * Prepended headers are inserted at the top (smfi_insheader index 0,
 * the bottom one first) so they stack as the proxy sends them; appended
 * ones are added at the end; fields the filters deleted or replaced are
 * changed by smfi_chgheader with the field's 1-based occurrence among
 * fields of the same name, from the last field up so that no edit moves
 * the index of another.  Values go to the MTA with LF line ends, and
 * with their leading white space when SMFIP_HDR_LEADSPC was agreed.
 * Returns -1 when the MTA refuses an edit or the spool cannot be read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/filter_msg.h"
#include "milter/milter_private.h"
#include "util/log.h"
#include "util/xalloc.h"

/* A value for the MTA: CRLF to LF; without LEADSPC, no leading
 * white space (the MTA adds one space). */
static char *
edit_value(const struct milter_conn *c, const char *value)
{
	char *out = xmalloc(strlen(value) + 2), *o = out;

	if (c->leadspc && value[0] != ' ' && value[0] != '\t')
		*o++ = ' ';
	if (!c->leadspc)
		value += strspn(value, " \t");
	for (; *value != '\0'; value++) {
		if (value[0] == '\r' && value[1] == '\n')
			continue;
		*o++ = *value;
	}
	*o = '\0';
	return out;
}

static int
edit_add(SMFICTX *ctx, const struct milter_conn *c,
         const struct filter_header *h, int insert)
{
	char *name = xstrdup(h->name), *value = edit_value(c, h->value);
	int rc = insert ? smfi_insheader(ctx, 0, name, value)
	                : smfi_addheader(ctx, name, value);

	free(name);
	free(value);
	return rc == MI_SUCCESS ? 0 : -1;
}

static int
edit_prepend(SMFICTX *ctx, const struct milter_conn *c)
{
	const struct filter_header *h, **list;
	size_t n = 0, i;
	int rc = 0;

	for (h = c->txn.prepend; h != NULL; h = h->next)
		n++;
	if (n == 0)
		return 0;
	list = xcalloc(n, sizeof(*list));
	for (i = 0, h = c->txn.prepend; h != NULL; h = h->next)
		list[i++] = h;
	/* Each insert goes on top: the one meant to be lowest first. */
	for (i = n; i > 0 && rc == 0; i--)
		rc = edit_add(ctx, c, list[i - 1], 1);
	free(list);
	return rc;
}

/* Name of every field (NULL-terminated strings), or NULL on a spool
 * error.  The caller frees each and the array. */
static char **
edit_names(const struct milter_conn *c)
{
	size_t i, n = c->txn.nfields, len;
	char **names = xcalloc(n + 1, sizeof(*names));
	const char *error;
	char *text;

	for (i = 0; i < n; i++) {
		text = filter_msg_field_dup(&c->txn, i, &len, &error);
		if (text == NULL) {
			log_error("%s milter edit: %s", c->fs.id, error);
			for (len = 0; len < i; len++)
				free(names[len]);
			free(names);
			return NULL;
		}
		names[i] = xstrndup(text, c->txn.fields[i].namelen);
		free(text);
	}
	return names;
}

static int
edit_field(SMFICTX *ctx, const struct milter_conn *c, char **names, size_t i)
{
	const struct filter_field *f = &c->txn.fields[i];
	char *value = NULL;
	const char *colon;
	size_t j;
	int index = 1, rc;

	for (j = 0; j < i; j++)
		index += strcasecmp(names[j], names[i]) == 0;
	if (!f->deleted) {
		colon = strchr(f->replacement, ':');
		value = edit_value(c, colon != NULL ? colon + 1 : "");
	}
	rc = smfi_chgheader(ctx, names[i], index, value);
	free(value);
	return rc == MI_SUCCESS ? 0 : -1;
}

static int
edit_needed(const struct milter_conn *c)
{
	size_t i;

	for (i = 0; i < c->txn.nfields; i++) {
		if (c->txn.fields[i].deleted || c->txn.fields[i].replacement)
			return 1;
	}
	return 0;
}

static int
edit_fields(SMFICTX *ctx, const struct milter_conn *c)
{
	size_t i, n = c->txn.nfields;
	char **names;
	int rc = 0;

	if (!edit_needed(c))
		return 0;
	names = edit_names(c);
	if (names == NULL)
		return -1;
	for (i = n; i > 0 && rc == 0; i--) {
		const struct filter_field *f = &c->txn.fields[i - 1];

		if (f->deleted || f->replacement != NULL)
			rc = edit_field(ctx, c, names, i - 1);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int
milter_edit_apply(SMFICTX *ctx, struct milter_conn *c)
{
	const struct filter_header *h;

	if (edit_fields(ctx, c) < 0)
		return -1;
	for (h = c->txn.append; h != NULL; h = h->next) {
		if (edit_add(ctx, c, h, 0) < 0)
			return -1;
	}
	return edit_prepend(ctx, c);
}

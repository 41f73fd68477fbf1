/*
 * spam_rules_expr.c - the expressions of meta rules and if lines:
 * tokens, parsing, evaluation.
 *
 * SpamAssassin cuts both into tokens with one lexer (Constants.pm's
 * ARITH_EXPRESSION_LEXER, which drops what it does not know), then
 * hands them to Perl.  This module uses the same lexer and parses the
 * tokens as Perl would: || && ^ == != < > <= >= (chained, as Perl 5.32
 * and later chain them) + - * / ! unary - and ?:, with Perl's values
 * (&& and || give an operand, ! and comparisons give 1 or 0).  The
 * result is a small stack program; names become rule indices or
 * constants through the caller's callback.  Expressions are bounded in
 * tokens, operations, nesting and stack.
 *
 * XXX A division by zero makes Perl die inside SpamAssassin's meta
 * evaluation; here it gives 0 (SpamAssassin already refuses a meta
 * whose divisor is 0 when every rule is).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/spam_rules_private.h"
#include "util/xalloc.h"

int
spam_rules_is_word(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

int
spam_rules_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static void
tok_add(struct spam_toks *l, enum spam_tok_type type, const char *s, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 32 : l->cap * 2;
		l->toks = xreallocarray(l->toks, l->cap, sizeof(*l->toks));
	}
	l->toks[l->n].type = type;
	l->toks[l->n].s = s;
	l->toks[l->n].len = len;
	l->toks[l->n].value = 0;
	l->n++;
}

/* The operator at s, its length in *len_r; SPAM_TOK_END when there is none. */
static enum spam_tok_type
lex_op(const char *s, size_t *len_r)
{
	static const struct {
		const char *text;
		enum spam_tok_type type;
	} ops[] = {
	    {"(", SPAM_TOK_LP},      {")", SPAM_TOK_RP},  {"||", SPAM_TOK_OROR},
	    {"&&", SPAM_TOK_ANDAND}, {"^", SPAM_TOK_XOR}, {"!=", SPAM_TOK_NE},
	    {"!", SPAM_TOK_NOT},     {">=", SPAM_TOK_GE}, {">", SPAM_TOK_GT},
	    {"<=", SPAM_TOK_LE},     {"<", SPAM_TOK_LT},  {"==", SPAM_TOK_EQ},
	    {"*", SPAM_TOK_MUL},     {"/", SPAM_TOK_DIV}, {"?", SPAM_TOK_QUEST},
	    {":", SPAM_TOK_COLON},
	};
	size_t i, n;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		n = strlen(ops[i].text);
		if (strncmp(s, ops[i].text, n) == 0) {
			*len_r = n;
			return ops[i].type;
		}
	}
	return SPAM_TOK_END;
}

/* ARITH_EXPRESSION_LEXER over text; -1 when there are too many. */
int
spam_toks_lex(const char *text, struct spam_toks *l)
{
	const char *s = text;
	enum spam_tok_type type;
	size_t n;

	while (*s != '\0') {
		if (l->n >= SPAM_META_TOKENS_MAX)
			return -1;
		if (strchr("-+.", *s) != NULL ||
		    spam_rules_is_digit((unsigned char)*s)) {
			n = strspn(s, "-+.0123456789");
			tok_add(l, SPAM_TOK_NUMISH, s, n);
		} else if (spam_rules_is_word((unsigned char)*s)) {
			for (n = 1; spam_rules_is_word((unsigned char)s[n]) ||
			            s[n] == ':';)
				n++;
			tok_add(l, SPAM_TOK_NAME, s, n);
		} else if ((type = lex_op(s, &n)) != SPAM_TOK_END) {
			tok_add(l, type, s, n);
		} else {
			n = 1; /* the lexer passes over it */
		}
		s += n;
	}
	tok_add(l, SPAM_TOK_END, s, 0);
	return 0;
}

/* A Perl numeric literal: decimal, or octal with a leading 0. */
static int
number_value(const char *s, size_t len, double *v_r)
{
	char buf[64];
	size_t i;
	double v = 0;

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (len > 1 && buf[0] == '0' && strchr(buf, '.') == NULL) {
		for (i = 1; i < len; i++) {
			if (buf[i] > '7')
				return -1; /* Perl: illegal octal digit */
			v = v * 8 + (buf[i] - '0');
		}
		*v_r = v;
		return 0;
	}
	*v_r = strtod(buf, NULL);
	return 0;
}

/* Whether s is \d+(\.\d+)? (with a sign when signed). */
int
spam_toks_number(const char *s, size_t len, int signed_ok)
{
	size_t i = 0, d;

	if (signed_ok && len > 0 && (s[0] == '+' || s[0] == '-'))
		i = 1;
	for (d = i; i < len && spam_rules_is_digit((unsigned char)s[i]); i++)
		;
	if (i == d)
		return 0;
	if (i < len && s[i] == '.') {
		for (d = ++i;
		     i < len && spam_rules_is_digit((unsigned char)s[i]); i++)
			;
		if (i == d)
			return 0;
	}
	return i == len;
}

/* A number token, maybe signed, appended to out. */
static int
number_add(struct spam_toks *out, const struct spam_tok *t)
{
	const char *s = t->s;
	size_t len = t->len;
	int neg = 0;
	double v;

	if (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-';
		s++;
		len--;
	}
	if (number_value(s, len, &v) < 0)
		return -1;
	tok_add(out, SPAM_TOK_NUM, t->s, t->len);
	out->toks[out->n - 1].value = neg ? -v : v;
	return 0;
}

/* The SPAM_TOK_NUMISH tokens made numbers or sign operators ("+-" is two);
 * -1 for one Perl would not parse. */
int
spam_toks_classify(struct spam_toks *l, int signed_ok)
{
	struct spam_toks out = {0};
	struct spam_tok *t;
	size_t i, j;

	for (i = 0; i < l->n; i++) {
		t = &l->toks[i];
		if (t->type != SPAM_TOK_NUMISH) {
			tok_add(&out, t->type, t->s, t->len);
			out.toks[out.n - 1].value = t->value;
			continue;
		}
		if (spam_toks_number(t->s, t->len, signed_ok)) {
			if (number_add(&out, t) < 0)
				goto fail;
			continue;
		}
		/* "+", "-", "+-", "-+"; Perl takes ++ and -- as its own */
		if (t->len > 2 || strspn(t->s, "+-") < t->len ||
		    (t->len == 2 && t->s[0] == t->s[1]))
			goto fail;
		for (j = 0; j < t->len; j++)
			tok_add(&out,
			        t->s[j] == '+' ? SPAM_TOK_PLUS : SPAM_TOK_MINUS,
			        t->s + j, 1);
	}
	free(l->toks);
	*l = out;
	return 0;
fail:
	free(out.toks);
	return -1;
}

/*
 * Parsing to a stack program
 */

struct parser {
	struct spam_toks *l;
	size_t pos;
	struct spam_expr *e;
	size_t cap;
	size_t sp; /* stack depth the ops so far leave */
	unsigned int depth;
	const char *error;
	spam_expr_name_cb *cb;
	void *ctx;
};

static int p_cond(struct parser *p);

static int
p_fail(struct parser *p, const char *error)
{
	if (p->error == NULL)
		p->error = error;
	return -1;
}

static enum spam_tok_type
p_peek(const struct parser *p)
{
	return p->l->toks[p->pos].type;
}

static int
emit(struct parser *p, enum spam_op_code code, size_t rule, double value)
{
	struct spam_expr *e = p->e;

	if (e->nops >= SPAM_META_OPS_MAX)
		return p_fail(p, "expression too long");
	if (e->nops == p->cap) {
		p->cap = p->cap == 0 ? 16 : p->cap * 2;
		e->ops = xreallocarray(e->ops, p->cap, sizeof(*e->ops));
	}
	e->ops[e->nops].code = code;
	e->ops[e->nops].rule = rule;
	e->ops[e->nops].value = value;
	e->nops++;
	if (code == SPAM_OP_CONST || code == SPAM_OP_RULE)
		p->sp++;
	else if (code == SPAM_OP_COND)
		p->sp -= 2;
	else if (code != SPAM_OP_NOT && code != SPAM_OP_NEG)
		p->sp--;
	if (p->sp > SPAM_META_STACK_MAX)
		return p_fail(p, "expression too complex");
	return 0;
}

static int
p_name(struct parser *p, const struct spam_tok *t)
{
	char name[SPAM_RULES_NAME_MAX + 32];
	size_t index;
	double value;

	if (t->len >= sizeof(name))
		return p_fail(p, "name too long");
	memcpy(name, t->s, t->len);
	name[t->len] = '\0';
	if (p->cb(p->ctx, name, &index, &value) == 1)
		return emit(p, SPAM_OP_RULE, index, 0);
	return emit(p, SPAM_OP_CONST, 0, value);
}

static int
p_primary(struct parser *p)
{
	const struct spam_tok *t = &p->l->toks[p->pos];

	switch (t->type) {
	case SPAM_TOK_NUM:
	case SPAM_TOK_VALUE:
		p->pos++;
		return emit(p, SPAM_OP_CONST, 0, t->value);
	case SPAM_TOK_NAME:
		p->pos++;
		return p_name(p, t);
	case SPAM_TOK_LP:
		p->pos++;
		if (p_peek(p) == SPAM_TOK_RP) { /* (): an empty list, false */
			p->pos++;
			return emit(p, SPAM_OP_CONST, 0, 0);
		}
		if (p_cond(p) < 0)
			return -1;
		if (p_peek(p) != SPAM_TOK_RP)
			return p_fail(p, "missing )");
		p->pos++;
		return 0;
	default:
		return p_fail(p, "syntax error");
	}
}

static int
p_unary(struct parser *p)
{
	enum spam_tok_type t = p_peek(p);
	int r;

	if (t != SPAM_TOK_NOT && t != SPAM_TOK_MINUS && t != SPAM_TOK_PLUS)
		return p_primary(p);
	if (++p->depth > SPAM_META_DEPTH_MAX)
		return p_fail(p, "expression nested too deep");
	p->pos++;
	r = p_unary(p);
	p->depth--;
	if (r < 0 || t == SPAM_TOK_PLUS)
		return r;
	return emit(p, t == SPAM_TOK_NOT ? SPAM_OP_NOT : SPAM_OP_NEG, 0, 0);
}

/* One level of left-associative binary operators. */
struct level {
	int (*next)(struct parser *p);
	enum spam_tok_type tok[2];
	enum spam_op_code op[2];
};

static int
p_binary(struct parser *p, const struct level *lv)
{
	enum spam_tok_type t;
	int i;

	if (lv->next(p) < 0)
		return -1;
	for (;;) {
		t = p_peek(p);
		i = t == lv->tok[0] ? 0 : t == lv->tok[1] ? 1 : -1;
		if (i < 0)
			return 0;
		p->pos++;
		if (lv->next(p) < 0 || emit(p, lv->op[i], 0, 0) < 0)
			return -1;
	}
}

static int
p_mul(struct parser *p)
{
	static const struct level lv = {
	    p_unary, {SPAM_TOK_MUL, SPAM_TOK_DIV}, {SPAM_OP_MUL, SPAM_OP_DIV}};

	return p_binary(p, &lv);
}

static int
p_add(struct parser *p)
{
	static const struct level lv = {
	    p_mul, {SPAM_TOK_PLUS, SPAM_TOK_MINUS}, {SPAM_OP_ADD, SPAM_OP_SUB}};

	return p_binary(p, &lv);
}

/* Copies ops [from, to) again (a chained comparison's middle term). */
static int
emit_copy(struct parser *p, size_t from, size_t to)
{
	struct spam_op op;
	size_t i;

	for (i = from; i < to; i++) {
		op = p->e->ops[i];
		if (emit(p, op.code, op.rule, op.value) < 0)
			return -1;
	}
	return 0;
}

/* Perl 5.32's chained comparisons: a < b <= c is a < b && b <= c. */
static int
p_chain(struct parser *p, int (*next)(struct parser *p),
        const enum spam_tok_type *toks, const enum spam_op_code *ops, size_t n)
{
	size_t from = 0, to = 0, i, links = 0;

	if (next(p) < 0)
		return -1;
	for (;;) {
		for (i = 0; i < n && p_peek(p) != toks[i]; i++)
			;
		if (i == n)
			return 0;
		p->pos++;
		if (links > 0 && emit_copy(p, from, to) < 0)
			return -1;
		from = p->e->nops;
		if (next(p) < 0)
			return -1;
		to = p->e->nops;
		if (emit(p, ops[i], 0, 0) < 0 ||
		    (links++ > 0 && emit(p, SPAM_OP_AND, 0, 0) < 0))
			return -1;
	}
}

static int
p_rel(struct parser *p)
{
	static const enum spam_tok_type toks[] = {SPAM_TOK_LT, SPAM_TOK_GT,
	                                          SPAM_TOK_LE, SPAM_TOK_GE};
	static const enum spam_op_code ops[] = {SPAM_OP_LT, SPAM_OP_GT,
	                                        SPAM_OP_LE, SPAM_OP_GE};

	return p_chain(p, p_add, toks, ops, 4);
}

static int
p_eq(struct parser *p)
{
	static const enum spam_tok_type toks[] = {SPAM_TOK_EQ, SPAM_TOK_NE};
	static const enum spam_op_code ops[] = {SPAM_OP_EQ, SPAM_OP_NE};

	return p_chain(p, p_rel, toks, ops, 2);
}

static int
p_xor(struct parser *p)
{
	static const struct level lv = {
	    p_eq, {SPAM_TOK_XOR, SPAM_TOK_XOR}, {SPAM_OP_XOR, SPAM_OP_XOR}};

	return p_binary(p, &lv);
}

static int
p_and(struct parser *p)
{
	static const struct level lv = {p_xor,
	                                {SPAM_TOK_ANDAND, SPAM_TOK_ANDAND},
	                                {SPAM_OP_AND, SPAM_OP_AND}};

	return p_binary(p, &lv);
}

static int
p_or(struct parser *p)
{
	static const struct level lv = {
	    p_and, {SPAM_TOK_OROR, SPAM_TOK_OROR}, {SPAM_OP_OR, SPAM_OP_OR}};

	return p_binary(p, &lv);
}

/* a ? b : c, right-associative */
static int
p_cond(struct parser *p)
{
	int r;

	if (++p->depth > SPAM_META_DEPTH_MAX)
		return p_fail(p, "expression nested too deep");
	r = p_or(p);
	if (r == 0 && p_peek(p) == SPAM_TOK_QUEST) {
		p->pos++;
		r = p_cond(p);
		if (r == 0 && p_peek(p) != SPAM_TOK_COLON)
			r = p_fail(p, "missing :");
		if (r == 0) {
			p->pos++;
			r = p_cond(p);
		}
		if (r == 0)
			r = emit(p, SPAM_OP_COND, 0, 0);
	}
	p->depth--;
	return r;
}

static void
deps_collect(struct spam_expr *e)
{
	size_t i, j;

	for (i = 0; i < e->nops; i++) {
		if (e->ops[i].code != SPAM_OP_RULE)
			continue;
		for (j = 0; j < e->ndeps && e->deps[j] != e->ops[i].rule; j++)
			;
		if (j < e->ndeps)
			continue;
		e->deps =
		    xreallocarray(e->deps, e->ndeps + 1, sizeof(*e->deps));
		e->deps[e->ndeps++] = e->ops[i].rule;
	}
}

/* Parses lexed tokens into e. */
int
spam_toks_parse(struct spam_toks *l, spam_expr_name_cb *cb, void *ctx,
                struct spam_expr *e, const char **error_r)
{
	struct parser p = {.l = l, .e = e, .cb = cb, .ctx = ctx};

	memset(e, 0, sizeof(*e));
	if (p_cond(&p) == 0 && p_peek(&p) != SPAM_TOK_END)
		p_fail(&p, "syntax error");
	if (p.error != NULL) {
		*error_r = p.error;
		spam_expr_deinit(e);
		return -1;
	}
	deps_collect(e);
	return 0;
}

int
spam_expr_compile(const char *text, spam_expr_name_cb *cb, void *ctx,
                  struct spam_expr *e, const char **error_r)
{
	struct spam_toks l = {0};
	int r = -1;

	memset(e, 0, sizeof(*e));
	*error_r = "expression too long";
	if (spam_toks_lex(text, &l) == 0) {
		*error_r = "invalid number or operator";
		if (spam_toks_classify(&l, 0) == 0)
			r = spam_toks_parse(&l, cb, ctx, e, error_r);
	}
	free(l.toks);
	return r;
}

void
spam_expr_deinit(struct spam_expr *e)
{
	free(e->ops);
	free(e->deps);
	memset(e, 0, sizeof(*e));
}

/*
 * Evaluation
 */

static double
perl_xor(double a, double b)
{
	double lim = 9.2e18;
	int64_t x = (int64_t)(a > lim ? lim : a < -lim ? -lim : a);
	int64_t y = (int64_t)(b > lim ? lim : b < -lim ? -lim : b);

	return (double)((uint64_t)x ^ (uint64_t)y);
}

/* One operation on the top of the stack.  Each value carries whether
 * a division by zero went into it, so that && || and ?: drop the flag
 * of the operand Perl would not have evaluated. */
static void
binary(enum spam_op_code code, double *st, unsigned char *fl, size_t sp)
{
	double a = st[sp - 1], b = st[sp];
	unsigned char fa = fl[sp - 1], fb = fa | fl[sp];

	switch (code) {
	case SPAM_OP_MUL:
		a *= b;
		break;
	case SPAM_OP_DIV:
		fb |= b == 0;
		a = b != 0 ? a / b : 0;
		break;
	case SPAM_OP_ADD:
		a += b;
		break;
	case SPAM_OP_SUB:
		a -= b;
		break;
	case SPAM_OP_LT:
		a = a < b;
		break;
	case SPAM_OP_GT:
		a = a > b;
		break;
	case SPAM_OP_LE:
		a = a <= b;
		break;
	case SPAM_OP_GE:
		a = a >= b;
		break;
	case SPAM_OP_EQ:
		a = a == b;
		break;
	case SPAM_OP_NE:
		a = a != b;
		break;
	case SPAM_OP_XOR:
		a = perl_xor(a, b);
		break;
	case SPAM_OP_AND:
		fb = a != 0 ? fb : fa;
		a = a != 0 ? b : a;
		break;
	case SPAM_OP_OR:
		fb = a != 0 ? fa : fb;
		a = a != 0 ? a : b;
		break;
	default:
		a = 0;
		break;
	}
	st[sp - 1] = a;
	fl[sp - 1] = fb;
}

static void
conditional(double *st, unsigned char *fl, size_t sp)
{
	int c = st[sp - 1] != 0;

	fl[sp - 1] |= c ? fl[sp] : fl[sp + 1];
	st[sp - 1] = c ? st[sp] : st[sp + 1];
}

double
spam_expr_eval(const struct spam_expr *e, const double *values, int *divzero_r)
{
	double st[SPAM_META_STACK_MAX + 1];
	unsigned char fl[SPAM_META_STACK_MAX + 1];
	const struct spam_op *op;
	size_t sp = 0, i;

	for (i = 0; i < e->nops; i++) {
		op = &e->ops[i];
		if (op->code == SPAM_OP_CONST || op->code == SPAM_OP_RULE) {
			fl[sp] = 0;
			st[sp++] = op->code == SPAM_OP_CONST ? op->value
			                                     : values[op->rule];
		} else if (op->code == SPAM_OP_NOT) {
			st[sp - 1] = st[sp - 1] != 0 ? 0 : 1;
		} else if (op->code == SPAM_OP_NEG) {
			st[sp - 1] = -st[sp - 1];
		} else if (op->code == SPAM_OP_COND) {
			sp -= 2;
			conditional(st, fl, sp);
		} else {
			sp--;
			binary(op->code, st, fl, sp);
		}
	}
	if (divzero_r != NULL)
		*divzero_r = sp > 0 && fl[0];
	return sp > 0 ? st[0] : 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
#include "common/util.h"
#include "common/cleanup.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

int pl_id_generate(char out[PL_ID_LEN + 1], pl_error_t **err)
{
	unsigned char raw[PL_ID_LEN / 2];
	size_t got = 0;
	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return pl_error_errno(err, "getrandom");
		}
		got += (size_t)n;
	}
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[PL_ID_LEN] = '\0';
	return 0;
}

bool pl_id_is_full(const char *s)
{
	size_t i = 0;
	for (; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == PL_ID_LEN;
}

int64_t pl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void pl_time_format(int64_t ns, char *buf, size_t len)
{
	time_t sec = (time_t)(ns / 1000000000LL);
	struct tm tm;
	gmtime_r(&sec, &tm);
	char date[32];
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%09lldZ", date, (long long)(ns % 1000000000LL));
}

static int parse_fraction(const char *s, const char **end, int64_t *ns)
{
	int64_t v = 0, scale = 100000000;
	const char *p = s;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (scale > 0) {
			v += (*p - '0') * scale;
			scale /= 10;
		}
	}
	*ns = v;
	*end = p;
	return 0;
}

int pl_time_parse(const char *s, int64_t *ns)
{
	if (!s || !*s)
		return -EINVAL;
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int64_t frac = 0;
	if (p) {
		if (*p == '.' && parse_fraction(p + 1, &p, &frac) < 0)
			return -EINVAL;
		if (strcmp(p, "Z") != 0)
			return -EINVAL;
		*ns = (int64_t)timegm(&tm) * 1000000000LL + frac;
		return 0;
	}
	/* unix seconds with an optional fraction */
	int64_t sec = 0;
	p = s;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (sec > INT64_MAX / 10 / 1000000000LL)
			return -ERANGE;
		sec = sec * 10 + (*p - '0');
	}
	if (*p == '.' && parse_fraction(p + 1, &p, &frac) < 0)
		return -EINVAL;
	if (*p)
		return -EINVAL;
	*ns = sec * 1000000000LL + frac;
	return 0;
}

static const struct {
	const char *name;
	int signo;
} signals[] = {
    {"HUP", SIGHUP},	   {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
    {"TRAP", SIGTRAP},	   {"ABRT", SIGABRT}, {"IOT", SIGIOT},	     {"BUS", SIGBUS},
    {"FPE", SIGFPE},	   {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},	   {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},	   {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
    {"XCPU", SIGXCPU},	   {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"POLL", SIGPOLL},     {"PWR", SIGPWR},
    {"SYS", SIGSYS},
};

int pl_signal_parse(const char *s, int *signo)
{
	if (!s || !*s)
		return -EINVAL;
	if (isdigit((unsigned char)*s)) {
		int64_t v;
		if (pl_parse_int64(s, 1, SIGRTMAX, &v) < 0)
			return -EINVAL;
		*signo = (int)v;
		return 0;
	}
	const char *n = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
	for (size_t i = 0; i < PL_ARRAY_SIZE(signals); i++) {
		if (strcasecmp(n, signals[i].name) == 0) {
			*signo = signals[i].signo;
			return 0;
		}
	}
	if (strncasecmp(n, "RTMIN", 5) == 0 || strncasecmp(n, "RTMAX", 5) == 0) {
		int64_t off = 0;
		const char *rest = n + 5;
		bool max = strncasecmp(n, "RTMAX", 5) == 0;
		if (*rest) {
			if (*rest != (max ? '-' : '+') ||
			    pl_parse_int64(rest + 1, 0, SIGRTMAX - SIGRTMIN, &off) < 0)
				return -EINVAL;
		}
		*signo = max ? SIGRTMAX - (int)off : SIGRTMIN + (int)off;
		return 0;
	}
	return -EINVAL;
}

const char *pl_signal_name(int signo)
{
	for (size_t i = 0; i < PL_ARRAY_SIZE(signals); i++)
		if (signals[i].signo == signo)
			return signals[i].name;
	return NULL;
}

int pl_detach_keys_parse(const char *spec, uint8_t out[16])
{
	int n = 0;
	_cleanup_free_ char *copy = pl_xstrdup(spec);
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == 16)
			return -1;
		if (strlen(t) == 1) {
			out[n++] = (uint8_t)t[0];
		} else if (strncasecmp(t, "ctrl-", 5) == 0 && strlen(t) == 6) {
			char k = (char)toupper((unsigned char)t[5]);
			if (k < '@' || k > '_') /* ctrl-@ .. ctrl-_ are bytes 0 .. 31 */
				return -1;
			out[n++] = (uint8_t)(k - '@');
		} else {
			return -1;
		}
	}
	return n;
}

char *pl_base64_encode(const void *data, size_t len)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	char *out = pl_xmalloc(4 * ((len + 2) / 3) + 1), *o = out;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		*o++ = tbl[v >> 18 & 63];
		*o++ = tbl[v >> 12 & 63];
		*o++ = i + 1 < len ? tbl[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? tbl[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64val(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+' || ch == '-')
		return 62;
	if (ch == '/' || ch == '_')
		return 63;
	return -1;
}

char *pl_base64_decode(const char *in, bool strict, size_t *len)
{
	size_t n = strlen(in);
	if (strict) {
		while (n && (in[n - 1] == '\n' || in[n - 1] == '\r'))
			n--;
		size_t pad = 0;
		while (n && in[n - 1] == '=' && pad < 2) {
			n--;
			pad++;
		}
		if (n % 4 == 1 || (pad && (n + pad) % 4))
			return NULL;
	}
	char *out = pl_xcalloc(n + 1, 1);
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)in[i]);
		if (v < 0) {
			if (!strict)
				continue;
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	if (len)
		*len = o;
	return out;
}

int pl_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	if (!s || !*s)
		return -EINVAL;
	const char *p = s;
	bool neg = false;
	if (*p == '-' && min < 0) {
		neg = true;
		p++;
	}
	if (!*p)
		return -EINVAL;
	int64_t v = 0;
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		if (v > (INT64_MAX - (*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (*p - '0');
	}
	if (neg)
		v = -v;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

size_t pl_buf_take(char *dst, size_t max, const char *src, size_t len, size_t *pos)
{
	size_t n = *pos < len ? len - *pos : 0;
	if (n > max)
		n = max;
	memcpy(dst, src + *pos, n);
	*pos += n;
	return n;
}

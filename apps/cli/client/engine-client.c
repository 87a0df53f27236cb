/*
 * engine's native client: hands the command to this build's daemon (apps/cli/src/daemon/Server.ts) over its unix
 * socket and relays stdout, stderr, signals and the exit code, without starting Node. When there is no daemon, or it
 * declines the command (busy, `run`, `daemon ...`), or the daemon is turned off, it runs bin/engine.cjs with Node,
 * which does the command itself and starts the daemon for the next one.
 *
 * The wire format is daemon/Protocol.ts; the socket's place and the on/off rule are daemon/Location.ts. Change them
 * together. ENGINE_BUILD_ID is this build's id (dist/build-id), given by build.mjs at compile time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <sys/ioctl.h>

#ifndef ENGINE_BUILD_ID
#error "build with -DENGINE_BUILD_ID=\"...\" (apps/cli/build.mjs does)"
#endif

extern char **environ;

enum { F_STDOUT = 1, F_STDERR = 2, F_EXIT = 3, F_DECLINED = 4, F_STATUS = 5, F_SIGNAL = 9 };

static int sock = -1;

/* Runs the command with Node through bin/engine.cjs, beside this binary's dist/ folder. */
static void fallback(int argc, char **argv) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    fprintf(stderr, "engine: cannot find my own path: %s\n", strerror(errno));
    exit(127);
  }
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (slash != NULL) *slash = 0; /* .../apps/cli/dist */
  char script[PATH_MAX + 32];
  snprintf(script, sizeof script, "%s/../bin/engine.cjs", self);
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (args == NULL) exit(127);
  args[0] = "node";
  args[1] = script;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  args[argc + 1] = NULL;
  const char *node = getenv("ENGINE_NODE");
  execvp(node != NULL && *node ? node : "node", args);
  fprintf(stderr, "engine: cannot run node: %s\n", strerror(errno));
  exit(127);
}

static int is_off(const char *v) {
  return strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 || strcasecmp(v, "off") == 0 || strcasecmp(v, "no") == 0;
}

static int daemon_enabled(void) {
  const char *setting = getenv("ENGINE_DAEMON");
  if (setting != NULL && *setting) return !is_off(setting);
  const char *ci = getenv("CI");
  return ci == NULL || !*ci || is_off(ci);
}

static int served_by_daemon(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-') continue;
    return strcmp(argv[i], "run") != 0 && strcmp(argv[i], "daemon") != 0;
  }
  return 0;
}

/* The socket's folder, as daemon/Location.ts daemonDir; 0 when it is not ours alone (the daemon refuses it too). */
static int socket_path(char *out, size_t size) {
  char dir[PATH_MAX];
  const char *d = getenv("ENGINE_DAEMON_DIR"), *x = getenv("XDG_RUNTIME_DIR"), *t = getenv("TMPDIR");
  if (d != NULL && *d) snprintf(dir, sizeof dir, "%s", d);
  else if (x != NULL && *x) snprintf(dir, sizeof dir, "%s/engine", x);
  else snprintf(dir, sizeof dir, "%s/engine-daemon-%u", t != NULL && *t ? t : "/tmp", (unsigned)getuid());
  struct stat st;
  if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077) != 0) return 0;
  int n = snprintf(out, size, "%s/%s.sock", dir, ENGINE_BUILD_ID);
  return n > 0 && (size_t)n < size;
}

/* A growable request buffer. */
static char *buf;
static size_t len, cap;
static void put(const void *p, size_t n) {
  if (len + n > cap) {
    cap = (len + n) * 2 + 4096;
    buf = realloc(buf, cap);
    if (buf == NULL) exit(127);
  }
  memcpy(buf + len, p, n);
  len += n;
}
static void put_u32(uint32_t v) {
  unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};
  put(b, 4);
}
static void put_u16(uint16_t v) {
  unsigned char b[2] = {v >> 8, v};
  put(b, 2);
}
static void put_str(const char *s) {
  size_t n = strlen(s);
  put_u32((uint32_t)n);
  put(s, n);
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        poll(&pfd, 1, -1);
        continue;
      }
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void on_signal(int sig) {
  unsigned char frame[9] = {F_SIGNAL, 0, 0, 0, 4, 0, 0, 0, (unsigned char)sig};
  if (sock >= 0) (void)!write(sock, frame, sizeof frame);
}

/* Reads exactly n bytes; 0 at a clean end, -1 on error or a cut-off frame. */
static int read_full(char *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(sock, p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return got == 0 && r == 0 ? 0 : -1;
    got += (size_t)r;
  }
  return 1;
}

int main(int argc, char **argv) {
  char path[sizeof ((struct sockaddr_un *)0)->sun_path];
  if (!daemon_enabled() || !served_by_daemon(argc, argv) || !socket_path(path, sizeof path)) fallback(argc, argv);
  sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  memcpy(addr.sun_path, path, strlen(path) + 1);
  if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0) fallback(argc, argv);

  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) == NULL) fallback(argc, argv);
  mode_t mask = umask(0);
  umask(mask);
  struct winsize ws = {0};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) != 0) ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);

  put("ENGD\x01R", 6);
  put_u32((uint32_t)argc + 1);
  put_str("node");
  put_str("engine");
  for (int i = 1; i < argc; i++) put_str(argv[i]);
  put_str(cwd);
  uint32_t envc = 0;
  for (char **e = environ; *e != NULL; e++) envc++;
  put_u32(envc);
  for (char **e = environ; *e != NULL; e++) put_str(*e);
  put_u32((uint32_t)mask);
  unsigned char flags = (isatty(STDOUT_FILENO) ? 1 : 0) | (isatty(STDERR_FILENO) ? 2 : 0);
  put(&flags, 1);
  put_u16(ws.ws_col);
  put_u16(ws.ws_row);

  signal(SIGPIPE, SIG_IGN);
  if (write_all(sock, buf, len) != 0) fallback(argc, argv);
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);

  int said = 0;
  for (;;) {
    unsigned char head[5];
    int r = read_full((char *)head, 5);
    if (r <= 0) break;
    uint32_t n = (uint32_t)head[1] << 24 | (uint32_t)head[2] << 16 | (uint32_t)head[3] << 8 | head[4];
    char *payload = malloc(n + 1);
    if (payload == NULL || (n > 0 && read_full(payload, n) != 1)) break;
    payload[n] = 0;
    if (head[0] == F_STDOUT) {
      said = 1;
      write_all(STDOUT_FILENO, payload, n);
    } else if (head[0] == F_STDERR) {
      said = 1;
      write_all(STDERR_FILENO, payload, n);
    } else if (head[0] == F_EXIT && n == 4) {
      unsigned char *c = (unsigned char *)payload;
      exit((int)((uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3]));
    } else if (head[0] == F_DECLINED && !said) {
      close(sock);
      sock = -1;
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      signal(SIGHUP, SIG_DFL);
      fallback(argc, argv);
    }
    free(payload);
  }
  fprintf(stderr, "engine: the daemon closed the connection before the command ended (it stopped or crashed); run the command again, or with ENGINE_DAEMON=0\n");
  return 1;
}

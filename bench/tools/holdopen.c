/* Opens N keep-alive connections to a server, sends one request on each, reads its answer,
 * then holds them all open and idle until killed (SIGTERM): the idle keep-alive load of a busy
 * shared host. usage: holdopen HOST PORT HOSTHEADER N */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: holdopen HOST PORT HOSTHEADER N\n"); return 2; }
    int n = atoi(argv[4]), open = 0;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &a.sin_addr);
    char req[512];
    int len = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", argv[3]);
    int *fds = calloc(n, sizeof(int));
    for (int i = 0; i < n; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0 || write(s, req, len) != len) { perror("connect"); if (s >= 0) close(s); continue; }
        char buf[4096];
        struct pollfd p = { .fd = s, .events = POLLIN };
        if (poll(&p, 1, 5000) == 1 && read(s, buf, sizeof buf) > 0) { fds[open++] = s; } else close(s);
    }
    printf("%d open\n", open);
    fflush(stdout);
    pause();
    return 0;
}

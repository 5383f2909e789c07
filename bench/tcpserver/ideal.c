/* The bound for any server on this benchmark: accept a connection and
 * posix_spawn CHILD on it (fds 0 and 1), nothing else (no rules, no
 * environment, no signal handling, no log), at most 40 children, reaped
 * with waitpid. It pays what every server pays and the spawn ceiling does
 * not: the accept, and the child's TCP work (its reply and close go
 * through the loopback on the server's CPU). Prints its port, then serves
 * until killed.
 * Usage: ideal CHILD [ARG] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: ideal child [arg]\n"); return 100; }
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000001);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t len = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 100) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) < 0) { perror("ideal"); return 111; }
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    /* The connection is accepted on fd 0 and copied onto 1. */
    close(0);
    close(1);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, 0, 1);
    int running = 0;
    for (;;) {
        while (waitpid(-1, 0, WNOHANG) > 0) running--;
        if (running >= 40 && wait(0) > 0) running--;
        int c = accept(l, 0, 0);
        if (c < 0) continue;
        pid_t pid;
        if (posix_spawn(&pid, argv[1], &fa, 0, argv + 1, environ) == 0) running++;
        close(c);
    }
}

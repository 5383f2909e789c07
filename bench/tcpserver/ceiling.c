/* The ceiling: spawn and reap CHILD with IN_FLIGHT children at once for
 * SECONDS, its stdout to /dev/null; prints spawns/s. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: ceiling child in_flight seconds\n"); return 100; }
    int inflight = atoi(argv[2]), seconds = atoi(argv[3]);
    char *args[] = {argv[1], 0};
    int null = open("/dev/null", O_WRONLY);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, null, 1);
    double until = now() + seconds;
    long done = 0;
    int running = 0;
    while (now() < until) {
        while (running < inflight) {
            pid_t pid;
            if (posix_spawn(&pid, argv[1], &fa, 0, args, environ) == 0) running++;
        }
        if (wait(0) > 0) { running--; done++; }
    }
    while (running-- > 0) wait(0);
    printf("%.0f\n", done / (double)seconds);
    return 0;
}

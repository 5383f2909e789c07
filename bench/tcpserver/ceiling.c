/* The ceiling: spawn and reap CHILD with IN_FLIGHT children at once for
 * SECONDS, its stdout to /dev/null; prints spawns/s. METHOD is how:
 *   spawn  posix_spawn (vfork: the parent waits for the exec)
 *   fork   fork, then dup2 and execve in the child
 *   clone  clone(CLONE_VM) without the vfork wait: the child runs on a
 *          stack of ours and execs while the parent goes on
 * ARG, if given, is the child's one argument (`/bin/echo hi`).
 * The benchmark takes the fastest as the ceiling. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

#define SLOTS 64
#define STACK 32768
static char stacks[SLOTS][STACK] __attribute__((aligned(16)));
static pid_t slot_pid[SLOTS];
static char *child_args[3];
static int null_fd;

/* Raw system calls only: the child shares our memory (and errno). */
static int clone_child(void *arg) {
    (void)arg;
    syscall(SYS_dup2, null_fd, 1);
    syscall(SYS_execve, child_args[0], child_args, environ);
    return 127;
}

static pid_t start(const char *method, posix_spawn_file_actions_t *fa) {
    pid_t pid = -1;
    if (!strcmp(method, "spawn")) {
        if (posix_spawn(&pid, child_args[0], fa, 0, child_args, environ) != 0) return -1;
    } else if (!strcmp(method, "fork")) {
        pid = fork();
        if (pid == 0) {
            dup2(null_fd, 1);
            execve(child_args[0], child_args, environ);
            _exit(127);
        }
    } else {
        for (int i = 0; i < SLOTS; i++)
            if (!slot_pid[i]) {
                pid = clone(clone_child, stacks[i] + STACK, CLONE_VM | SIGCHLD, 0);
                if (pid > 0) slot_pid[i] = pid;
                break;
            }
    }
    return pid;
}

static void reaped(pid_t pid) {
    for (int i = 0; i < SLOTS; i++)
        if (slot_pid[i] == pid) slot_pid[i] = 0;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: ceiling spawn|fork|clone child in_flight seconds [arg]\n"); return 100; }
    const char *method = argv[1];
    int inflight = atoi(argv[3]), seconds = atoi(argv[4]);
    if (inflight > SLOTS) inflight = SLOTS;
    child_args[0] = argv[2];
    child_args[1] = argc > 5 ? argv[5] : 0;
    null_fd = open("/dev/null", O_WRONLY);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, null_fd, 1);
    double until = now() + seconds;
    long done = 0;
    int running = 0;
    while (now() < until) {
        while (running < inflight)
            if (start(method, &fa) > 0) running++;
        pid_t pid = wait(0);
        if (pid > 0) { reaped(pid); running--; done++; }
    }
    while (running-- > 0) reaped(wait(0));
    printf("%.0f\n", done / (double)seconds);
    return 0;
}

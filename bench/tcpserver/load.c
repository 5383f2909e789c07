/* Load generator: THREADS clients connect to 127.0.0.1:PORT, read the
 * reply to end of file, and repeat for SECONDS; prints connections/s.
 * With a fourth argument 1, client i connects from 127.0.0.(i+1). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port, seconds, spread;
static double until;
static long done[64];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void *client(void *arg) {
    long i = (long)arg;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(0x7f000001);
    char buf[64];
    while (now() < until) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s >= 0 && spread) {
            struct sockaddr_in from = {0};
            from.sin_family = AF_INET;
            from.sin_addr.s_addr = htonl(0x7f000001 + i);
            if (bind(s, (struct sockaddr *)&from, sizeof from) < 0) { close(s); continue; }
        }
        if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) { if (s >= 0) close(s); continue; }
        int got = 0, n;
        while ((n = read(s, buf, sizeof buf)) > 0) got += n;
        close(s);
        if (got == 3) done[i]++;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: load port threads seconds\n"); return 100; }
    port = atoi(argv[1]);
    int threads = atoi(argv[2]);
    seconds = atoi(argv[3]);
    spread = argc > 4 && atoi(argv[4]);
    pthread_t t[64];
    until = now() + seconds;
    for (long i = 0; i < threads; i++) pthread_create(&t[i], 0, client, (void *)i);
    long total = 0;
    for (int i = 0; i < threads; i++) { pthread_join(t[i], 0); total += done[i]; }
    printf("%.0f\n", total / (double)seconds);
    return 0;
}

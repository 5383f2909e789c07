/* The tiny static child of the tcpserver benchmark: a three-byte reply. */
#include <unistd.h>
int main(void) { return write(1, "ok\n", 3) == 3 ? 0 : 1; }

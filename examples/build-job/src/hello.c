#include <stdio.h>

int main(void) { puts("hello from the build job's sources"); return 0; }

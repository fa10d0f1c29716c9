build/obj/lib/err.o: lib/err.c include/blockipam/err.h
include/blockipam/err.h:

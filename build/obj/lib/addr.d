build/obj/lib/addr.o: lib/addr.c include/blockipam/addr.h \
 include/blockipam/err.h
include/blockipam/addr.h:
include/blockipam/err.h:

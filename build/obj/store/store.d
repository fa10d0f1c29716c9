build/obj/store/store.o: store/store.c include/blockipam/err.h \
 include/blockipam/store.h
include/blockipam/err.h:
include/blockipam/store.h:

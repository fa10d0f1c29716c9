build/obj/lib/util.o: lib/util.c lib/internal.h include/blockipam/ipam.h \
 include/blockipam/addr.h include/blockipam/err.h \
 include/blockipam/store.h include/blockipam/selector.h
lib/internal.h:
include/blockipam/ipam.h:
include/blockipam/addr.h:
include/blockipam/err.h:
include/blockipam/store.h:
include/blockipam/selector.h:

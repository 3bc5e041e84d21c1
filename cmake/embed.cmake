# embed.cmake - turns a text file into a C array at build time (cmake -P).
#   cmake -DIN=file.lua -DOUT=file.c -DSYMBOL=name -P embed.cmake
# Produces: const char SYMBOL[] = {...,0}; const size_t SYMBOL_len = <bytes without the NUL>;
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR nbytes "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
file(WRITE "${OUT}" "/* Generated from ${IN} by cmake/embed.cmake. Do not edit. */\n#include <stddef.h>\nconst char ${SYMBOL}[] = {\n${body}0};\nconst size_t ${SYMBOL}_len = ${nbytes};\n")

// cimage.h: PNG and JPEG coding through libpng and libjpeg(-turbo), for overinterp.
// Every function returns 0 on success and a negative value on failure, with a message written
// to err (at most errlen bytes, NUL-terminated). Buffers returned through out pointers are
// allocated with malloc; release them with oi_image_free.
#ifndef CIMAGE_H
#define CIMAGE_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

void oi_image_free(void* p);

// The most pixels (width x height) a decoder accepts: 100 megapixels, about what Pillow warns at.
// A header that declares more is refused before anything is allocated (a small file can declare
// 65,535 x 65,535).
#define OI_MAX_PIXELS 100000000ULL

// Writes 8-bit pixels (HWC, channels 1, 3 or 4) as PNG.
int oi_png_write(const char* path, const uint8_t* pixels, int width, int height, int channels,
                 char* err, size_t errlen);
// Decodes PNG bytes as 8-bit RGB (channels 3) or RGBA (4, when the file has alpha), HWC.
int oi_png_decode(const uint8_t* data, size_t len, uint8_t** pixels, int* width, int* height,
                  int* channels, char* err, size_t errlen);
// Decodes JPEG bytes to 8-bit RGB, HWC.
int oi_jpeg_decode(const uint8_t* data, size_t len, uint8_t** pixels, int* width, int* height,
                   char* err, size_t errlen);
// Encodes 8-bit RGB (HWC) as baseline JPEG at the given quality (1-100), 4:2:0 subsampling.
int oi_jpeg_encode(const uint8_t* pixels, int width, int height, int quality, uint8_t** out,
                   size_t* outlen, char* err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif

// cimage.c: see include/cimage.h.
#include "cimage.h"

#include <errno.h>
#include <stdio.h>
#include <setjmp.h>
#include <unistd.h>
#include <jpeglib.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

static void set_err(char* err, size_t errlen, const char* msg) {
  if (err && errlen > 0) {
    strncpy(err, msg, errlen - 1);
    err[errlen - 1] = 0;
  }
}

// "what: the OS reason" (errno as it stands).
static void set_errno(char* err, size_t errlen, const char* what) {
  if (err && errlen > 0) snprintf(err, errlen, "%s: %s", what, strerror(errno));
}

void oi_image_free(void* p) { free(p); }

// ---- PNG ------------------------------------------------------------------------------------------
int oi_png_write(const char* path, const uint8_t* pixels, int width, int height, int channels,
                 char* err, size_t errlen) {
  if (width <= 0 || height <= 0) { set_err(err, errlen, "image has no pixels"); return -1; }
  int color;
  switch (channels) {
    case 1: color = PNG_COLOR_TYPE_GRAY; break;
    case 3: color = PNG_COLOR_TYPE_RGB; break;
    case 4: color = PNG_COLOR_TYPE_RGBA; break;
    default: set_err(err, errlen, "PNG needs 1, 3 or 4 channels"); return -1;
  }
  FILE* fp = fopen(path, "wb");
  if (!fp) { set_errno(err, errlen, "cannot open file for writing"); return -1; }
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    fclose(fp);
    png_destroy_write_struct(&png, &info);
    set_err(err, errlen, "out of memory in libpng");
    return -1;
  }
  if (setjmp(png_jmpbuf(png))) {
    // libpng's writes go through fwrite: a failed write (a full disk) left errno.
    int saved = errno;
    png_destroy_write_struct(&png, &info);
    fclose(fp);
    errno = saved;
    set_errno(err, errlen, "libpng failed while writing");
    return -1;
  }
  png_init_io(png, fp);
  png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, color, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < height; ++y) png_write_row(png, (png_const_bytep)(pixels + (size_t)y * width * channels));
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  // Buffered bytes reach the disk here; a full disk shows as a failed flush, sync or close.
  if (fflush(fp) != 0 || ferror(fp)) {
    set_errno(err, errlen, "cannot write the file");
    fclose(fp);
    return -1;
  }
  if (fsync(fileno(fp)) != 0) {
    set_errno(err, errlen, "cannot write the file to disk");
    fclose(fp);
    return -1;
  }
  if (fclose(fp) != 0) { set_errno(err, errlen, "error closing file"); return -1; }
  return 0;
}

int oi_png_decode(const uint8_t* data, size_t len, uint8_t** pixels, int* width, int* height,
                  int* channels, char* err, size_t errlen) {
  png_image image;
  memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, data, len)) {
    set_err(err, errlen, image.message[0] ? image.message : "not a readable PNG file");
    return -1;
  }
  if ((unsigned long long)image.width * image.height > OI_MAX_PIXELS) {
    png_image_free(&image);
    set_err(err, errlen, "image larger than 100 megapixels");
    return -1;
  }
  int has_alpha = (image.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  image.format = has_alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
  size_t size = PNG_IMAGE_SIZE(image);
  uint8_t* buf = (uint8_t*)malloc(size);
  if (!buf) { png_image_free(&image); set_err(err, errlen, "out of memory"); return -1; }
  if (!png_image_finish_read(&image, NULL, buf, 0, NULL)) {
    free(buf);
    set_err(err, errlen, image.message[0] ? image.message : "corrupt PNG data");
    png_image_free(&image);
    return -1;
  }
  *pixels = buf;
  *width = (int)image.width;
  *height = (int)image.height;
  *channels = has_alpha ? 4 : 3;
  return 0;
}

// ---- JPEG -----------------------------------------------------------------------------------------
struct oi_jpeg_err {
  struct jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

static void oi_jpeg_error_exit(j_common_ptr cinfo) {
  struct oi_jpeg_err* e = (struct oi_jpeg_err*)cinfo->err;
  (*cinfo->err->format_message)(cinfo, e->message);
  longjmp(e->jump, 1);
}

static void oi_jpeg_silence(j_common_ptr cinfo, int level) { (void)cinfo; (void)level; }

int oi_jpeg_decode(const uint8_t* data, size_t len, uint8_t** pixels, int* width, int* height,
                   char* err, size_t errlen) {
  struct jpeg_decompress_struct cinfo;
  struct oi_jpeg_err jerr;
  uint8_t* volatile buf = NULL;
  cinfo.err = jpeg_std_error(&jerr.mgr);
  jerr.mgr.error_exit = oi_jpeg_error_exit;
  jerr.mgr.emit_message = oi_jpeg_silence;
  if (setjmp(jerr.jump)) {
    jpeg_destroy_decompress(&cinfo);
    free(buf);
    set_err(err, errlen, jerr.message);
    return -1;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, (const unsigned char*)data, (unsigned long)len);
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = JCS_RGB;
  if ((unsigned long long)cinfo.image_width * cinfo.image_height > OI_MAX_PIXELS) {
    jpeg_destroy_decompress(&cinfo);
    set_err(err, errlen, "image larger than 100 megapixels");
    return -1;
  }
  jpeg_start_decompress(&cinfo);
  size_t stride = (size_t)cinfo.output_width * 3;
  buf = (uint8_t*)malloc(stride * cinfo.output_height);
  if (!buf) {
    jpeg_destroy_decompress(&cinfo);
    set_err(err, errlen, "out of memory");
    return -1;
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = buf + stride * cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  *width = (int)cinfo.output_width;
  *height = (int)cinfo.output_height;
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  *pixels = buf;
  return 0;
}

int oi_jpeg_encode(const uint8_t* pixels, int width, int height, int quality, uint8_t** out,
                   size_t* outlen, char* err, size_t errlen) {
  struct jpeg_compress_struct cinfo;
  struct oi_jpeg_err jerr;
  unsigned char* mem = NULL;
  unsigned long memlen = 0;
  cinfo.err = jpeg_std_error(&jerr.mgr);
  jerr.mgr.error_exit = oi_jpeg_error_exit;
  jerr.mgr.emit_message = oi_jpeg_silence;
  if (setjmp(jerr.jump)) {
    jpeg_destroy_compress(&cinfo);
    free(mem);
    set_err(err, errlen, jerr.message);
    return -1;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &mem, &memlen);
  cinfo.image_width = (JDIMENSION)width;
  cinfo.image_height = (JDIMENSION)height;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  size_t stride = (size_t)width * 3;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = (JSAMPROW)(pixels + stride * cinfo.next_scanline);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  *out = mem;
  *outlen = (size_t)memlen;
  return 0;
}

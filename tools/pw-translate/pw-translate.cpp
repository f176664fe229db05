//===- pw-translate.cpp - pipeweave's mlir-translate ----------------------===//
//
// Translations between the sched dialect and other formats: today PyTorch
// pipelining's CSV action lists, both ways.
//
//===----------------------------------------------------------------------===//

#include "codegen/TorchCsv/TorchCsvTranslation.h"

#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"

int main(int argc, char **argv) {
  pipeweave::registerTorchCsvTranslations();
  return mlir::failed(mlir::mlirTranslateMain(
      argc, argv,
      "pw-translate: convert schedules between sched IR and other formats\n\n"
      "  pw-translate --sched-to-torch-csv program.mlir   -> CSV\n"
      "  pw-translate --torch-csv-to-sched order.csv      -> sched IR\n"));
}

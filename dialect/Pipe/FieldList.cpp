//===- FieldList.cpp - `name = value, ...` operation syntax ---------------===//

#include "dialect/Pipe/FieldList.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"

#include <cstdio>
#include <cstdlib>

using namespace mlir;

namespace pipeweave::pipe {

std::string formatFloat(double value) {
  char buffer[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value)
      break;
  }
  std::string text = buffer;
  // MLIR float literals need a '.', so "5e+10" must become "5.0e+10".
  if (text.find_first_of(".ni") == std::string::npos) {
    size_t exponent = text.find('e');
    text.insert(exponent == std::string::npos ? text.size() : exponent, ".0");
  }
  return text;
}

std::string fieldNames(ArrayRef<FieldSpec> fields) {
  std::string names;
  for (const FieldSpec &field : fields) {
    if (!names.empty())
      names += ", ";
    names += field.name.str();
  }
  return names;
}

/// Parses any attribute and converts it to the field's kind, so that a
/// wrong kind of value gets an error naming the field (and `forward = 1`
/// is accepted as a float).
static ParseResult parseFieldValue(OpAsmParser &parser, Builder &builder,
                                   const FieldSpec &field, Attribute &value) {
  llvm::SMLoc loc = parser.getCurrentLocation();
  Attribute parsed;
  if (parser.parseAttribute(parsed))
    return failure();
  auto integer = dyn_cast<IntegerAttr>(parsed);
  if (integer && !integer.getType().isSignlessInteger(64) &&
      !integer.getType().isIndex())
    integer = nullptr; // i1 `true`/`false` and odd widths are not numbers
  switch (field.kind) {
  case FieldKind::Float:
    if (auto number = dyn_cast<FloatAttr>(parsed))
      value = builder.getF64FloatAttr(number.getValueAsDouble());
    else if (integer)
      value = builder.getF64FloatAttr(static_cast<double>(integer.getInt()));
    else
      return parser.emitError(loc)
             << "field '" << field.name << "' expects a number, got " << parsed;
    return success();
  case FieldKind::Integer:
    if (!integer)
      return parser.emitError(loc) << "field '" << field.name
                                   << "' expects an integer, got " << parsed;
    value = builder.getI64IntegerAttr(integer.getInt());
    return success();
  case FieldKind::String:
    if (!isa<StringAttr>(parsed))
      return parser.emitError(loc)
             << "field '" << field.name
             << "' expects a quoted kernel name, got " << parsed;
    value = parsed;
    return success();
  }
  llvm_unreachable("unknown field kind");
}

ParseResult parseFieldList(OpAsmParser &parser, OperationState &result,
                           ArrayRef<FieldSpec> fields) {
  Builder &builder = parser.getBuilder();
  StringRef opName = result.name.getStringRef();
  llvm::StringSet<> seen;
  auto parseValueOf = [&](StringRef name, llvm::SMLoc nameLoc) -> ParseResult {
    const FieldSpec *field = llvm::find_if(
        fields, [&](const FieldSpec &spec) { return spec.name == name; });
    if (field == fields.end())
      return parser.emitError(nameLoc)
             << "unknown field '" << name << "' in " << opName
             << "; expected one of: " << fieldNames(fields);
    if (!seen.insert(name).second)
      return parser.emitError(nameLoc)
             << "field '" << name << "' is set twice in " << opName;
    Attribute value;
    if (parser.parseEqual() || parseFieldValue(parser, builder, *field, value))
      return failure();
    result.addAttribute(field->name, value);
    return success();
  };

  // The first name is optional so that an empty list reaches the verifier,
  // which says what is wrong; after a comma a name is required.
  llvm::SMLoc nameLoc = parser.getCurrentLocation();
  StringRef name;
  if (succeeded(parser.parseOptionalKeyword(&name))) {
    if (parseValueOf(name, nameLoc))
      return failure();
    while (succeeded(parser.parseOptionalComma())) {
      nameLoc = parser.getCurrentLocation();
      if (parser.parseKeyword(&name) || parseValueOf(name, nameLoc))
        return failure();
    }
  }
  return parser.parseOptionalAttrDict(result.attributes);
}

void printFieldList(OpAsmPrinter &printer, Operation *op,
                    ArrayRef<FieldSpec> fields) {
  llvm::SmallVector<StringRef> printed;
  bool first = true;
  for (const FieldSpec &field : fields) {
    Attribute value = op->getAttr(field.name);
    if (!value)
      continue;
    printer << (first ? " " : ", ") << field.name << " = ";
    first = false;
    printed.push_back(field.name);
    if (auto number = dyn_cast<FloatAttr>(value))
      printer << formatFloat(number.getValueAsDouble());
    else if (auto integer = dyn_cast<IntegerAttr>(value))
      printer << integer.getInt();
    else if (auto text = dyn_cast<StringAttr>(value))
      printer.printString(text.getValue());
    else
      printer.printAttribute(value);
  }
  printer.printOptionalAttrDict(op->getAttrs(), printed);
}

} // namespace pipeweave::pipe

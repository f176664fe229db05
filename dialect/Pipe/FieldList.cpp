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

ParseResult parseFieldsAfter(OpAsmParser &parser, StringRef owner,
                             ArrayRef<FieldSpec> fields, StringRef first,
                             llvm::SMLoc firstLoc, NamedAttrList &into) {
  Builder &builder = parser.getBuilder();
  llvm::StringSet<> seen;
  auto parseValueOf = [&](StringRef name, llvm::SMLoc nameLoc) -> ParseResult {
    const FieldSpec *field = llvm::find_if(
        fields, [&](const FieldSpec &spec) { return spec.name == name; });
    if (field == fields.end())
      return parser.emitError(nameLoc)
             << "unknown field '" << name << "' in " << owner
             << "; expected one of: " << fieldNames(fields);
    if (!seen.insert(name).second)
      return parser.emitError(nameLoc)
             << "field '" << name << "' is set twice in " << owner;
    Attribute value;
    if (parser.parseEqual() || parseFieldValue(parser, builder, *field, value))
      return failure();
    into.append(field->name, value);
    return success();
  };
  if (parseValueOf(first, firstLoc))
    return failure();
  while (succeeded(parser.parseOptionalComma())) {
    llvm::SMLoc nameLoc = parser.getCurrentLocation();
    StringRef name;
    if (parser.parseKeyword(&name) || parseValueOf(name, nameLoc))
      return failure();
  }
  return success();
}

ParseResult parseFieldList(OpAsmParser &parser, OperationState &result,
                           ArrayRef<FieldSpec> fields) {
  // The first name is optional so that an empty list reaches the verifier,
  // which says what is wrong; after a comma a name is required.
  llvm::SMLoc nameLoc = parser.getCurrentLocation();
  StringRef name;
  if (succeeded(parser.parseOptionalKeyword(&name)) &&
      parseFieldsAfter(parser, result.name.getStringRef(), fields, name,
                       nameLoc, result.attributes))
    return failure();
  return parser.parseOptionalAttrDict(result.attributes);
}

/// Prints one field value the way the parser reads it back.
static void printFieldValue(OpAsmPrinter &printer, Attribute value) {
  if (auto number = dyn_cast<FloatAttr>(value))
    printer << formatFloat(number.getValueAsDouble());
  else if (auto integer = dyn_cast<IntegerAttr>(value))
    printer << integer.getInt();
  else if (auto text = dyn_cast<StringAttr>(value))
    printer.printString(text.getValue());
  else
    printer.printAttribute(value);
}

bool printFieldValues(OpAsmPrinter &printer, ArrayRef<FieldSpec> fields,
                      llvm::function_ref<Attribute(StringRef)> valueOf) {
  bool first = true;
  for (const FieldSpec &field : fields) {
    Attribute value = valueOf(field.name);
    if (!value)
      continue;
    printer << (first ? " " : ", ") << field.name << " = ";
    first = false;
    printFieldValue(printer, value);
  }
  return !first;
}

void printFieldList(OpAsmPrinter &printer, Operation *op,
                    ArrayRef<FieldSpec> fields) {
  printFieldValues(printer, fields,
                   [&](StringRef name) { return op->getAttr(name); });
  llvm::SmallVector<StringRef> printed;
  for (const FieldSpec &field : fields)
    printed.push_back(field.name);
  printer.printOptionalAttrDict(op->getAttrs(), printed);
}

} // namespace pipeweave::pipe
